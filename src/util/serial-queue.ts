/**
 * Runs async tasks one at a time, in the order they were queued.
 *
 * A task's failure rejects only that task's promise; the queue goes on with the next one.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    // The next task waits for this one to settle, not to succeed.
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
