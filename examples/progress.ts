/** Progress lines for the example scripts: the mean loss of every `every` steps as one JSON line. */
export function stepLogger(every = 100): (info: { step: number; loss: number; seconds: number }) => void {
  let sum = 0,
    count = 0;
  return ({ step, loss, seconds }) => {
    sum += loss;
    count++;
    if (step % every === 0) {
      console.log(JSON.stringify({ step, loss: Number((sum / count).toFixed(4)), seconds: Number(seconds.toFixed(1)) }));
      sum = count = 0;
    }
  };
}
