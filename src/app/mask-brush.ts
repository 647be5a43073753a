/**
 * Painting a mask with pointer events, for source-picture.ts: mouse, pen and touch alike.
 */

/** What a stroke needs from the section that owns the mask. */
export interface Painting {
  /** In mask pixels. */
  brushDiameter(): number;
  tool(): 'brush' | 'eraser';
  paint(change: (draw: CanvasRenderingContext2D) => void, erasing: boolean): void;
}

/**
 * Mouse, pen and touch alike through pointer events. Each move draws a round-capped line from
 * the last point, so a stroke stays continuous however far apart the browser's events land.
 */
export function installPainting(canvas: HTMLCanvasElement, painting: Painting): void {
  let stroke: { pointerId: number; x: number; y: number } | undefined;
  const at = (event: PointerEvent): { x: number; y: number } => {
    // CSS pixels to the mask's pixels: the canvas is shown scaled to the section's width.
    const box = canvas.getBoundingClientRect();
    return { x: ((event.clientX - box.left) * canvas.width) / box.width, y: ((event.clientY - box.top) * canvas.height) / box.height };
  };
  const line = (from: { x: number; y: number }, to: { x: number; y: number }): void => {
    const erasing = painting.tool() === 'eraser';
    painting.paint((draw) => {
      draw.save();
      draw.globalCompositeOperation = erasing ? 'destination-out' : 'source-over';
      draw.strokeStyle = '#fff';
      draw.lineCap = 'round';
      draw.lineWidth = painting.brushDiameter();
      draw.beginPath();
      draw.moveTo(from.x, from.y);
      // A zero-length round-capped line still paints its dot, in every engine we ship to.
      draw.lineTo(to.x + 0.01, to.y);
      draw.stroke();
      draw.restore();
    }, erasing);
  };
  canvas.addEventListener('pointerdown', (event) => {
    if (stroke !== undefined || (event.pointerType === 'mouse' && event.button !== 0)) return;
    event.preventDefault();
    // Captured, the stroke goes on (and ends) even where the pointer leaves the canvas.
    canvas.setPointerCapture(event.pointerId);
    const point = at(event);
    stroke = { pointerId: event.pointerId, ...point };
    line(point, point);
  });
  canvas.addEventListener('pointermove', (event) => {
    if (stroke?.pointerId !== event.pointerId) return;
    // Coalesced events: the positions the browser merged into this one, for a truer curve.
    for (const moved of event.getCoalescedEvents?.() ?? [event]) {
      const point = at(moved);
      line(stroke, point);
      stroke = { pointerId: stroke.pointerId, ...point };
    }
  });
  const end = (event: PointerEvent): void => {
    if (stroke?.pointerId === event.pointerId) stroke = undefined;
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
}
