import { progressBar } from './sweep.js';

describe('sweep progress bar', () => {
  it('fills in proportion to done/total and shows unknowns', () => {
    expect(progressBar({ done: 0, total: 4, errors: 0 }, 8)).toBe('[........] 0/4');
    expect(progressBar({ done: 2, total: 4, errors: 1 }, 8)).toBe('[####....] 2/4  1 unknown');
    expect(progressBar({ done: 1000, total: 1000, errors: 0 }, 10)).toBe('[##########] 1000/1000');
    expect(progressBar({ done: 0, total: 0, errors: 0 }, 4)).toBe('[####] 0/0');
  });
});
