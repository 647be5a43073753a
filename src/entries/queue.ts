/** `webdiffusion/queue`: the generation queue on its own, for any `Engine`. */
export { GenerationQueue } from '../queue/generation-queue.ts';
export type {
  CancelReason,
  GenerationQueueOptions,
  QueueEvent,
  QueueEventOf,
  QueueEventType,
  RequestStatus,
  SubmitMode,
  SubmitOptions,
} from '../queue/generation-queue.ts';
