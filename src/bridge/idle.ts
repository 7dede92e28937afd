/**
 * Tells when the bridge goes quiet, so that the process can give memory back while it waits
 * (V8 and malloc keep what a burst of traffic made them grow; see src/cli/run.ts).
 *
 * Every `quietMs` a check reads the activity counter (messages handled so far). The first check
 * that finds it unchanged since the previous one calls `onIdle()`; the next call comes only
 * after some activity and another quiet period. The first check after `start()` counts too, so
 * a bridge that starts and stays idle gets one call after `quietMs`.
 */
export class IdleWatch {
  #timer: ReturnType<typeof setInterval> | undefined;
  #last = 0;
  #reported = false;

  constructor(
    private readonly activity: () => number,
    private readonly onIdle: () => void,
    readonly quietMs = 10_000,
  ) {}

  start(): void {
    if (this.#timer !== undefined) return;
    this.#last = this.activity();
    this.#reported = false;
    this.#timer = setInterval(() => this.check(), this.quietMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One check, as the timer runs it (public for tests). */
  check(): void {
    const now = this.activity();
    if (now !== this.#last) {
      this.#last = now;
      this.#reported = false;
      return;
    }
    if (this.#reported) return;
    this.#reported = true;
    this.onIdle();
  }
}
