import { jest } from '@jest/globals';
import { systemTimerFactory } from './socket.js';

describe('systemTimerFactory', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('fires once the latest deadline has passed, however often it was restarted', () => {
    const expired = jest.fn();
    const timer = systemTimerFactory(expired);
    timer.restart(1000);
    jest.advanceTimersByTime(600);
    timer.restart(1000); // deadline moves to t=1600
    jest.advanceTimersByTime(500);
    expect(expired).not.toHaveBeenCalled();
    jest.advanceTimersByTime(600);
    expect(expired).toHaveBeenCalledTimes(1);
  });

  it('honours a shorter timeout given after a longer one', () => {
    const expired = jest.fn();
    const timer = systemTimerFactory(expired);
    timer.restart(8000);
    timer.restart(1000);
    jest.advanceTimersByTime(1100);
    expect(expired).toHaveBeenCalledTimes(1);
  });

  it('does not fire after cancel', () => {
    const expired = jest.fn();
    const timer = systemTimerFactory(expired);
    timer.restart(1000);
    timer.cancel();
    jest.advanceTimersByTime(5000);
    expect(expired).not.toHaveBeenCalled();
  });
});
