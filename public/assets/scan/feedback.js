/**
 * The answer for the ear and the hand, so a steward need not read the screen: a short high beep and
 * one buzz for admitted, two low beeps and a long double buzz for refused, one middle tone for
 * "check this" (amber). Audio needs a user gesture first: unlockAudio() runs on the first tap.
 */
let audio = null;

export function unlockAudio() {
  try {
    audio ??= new AudioContext();
    if (audio.state === "suspended") void audio.resume();
  } catch {
    audio = null;
  }
}

const TONES = {
  ok: { notes: [[1175, 0, 0.14]], vibrate: [90] },
  bad: {
    notes: [
      [220, 0, 0.22],
      [196, 0.3, 0.3],
    ],
    vibrate: [250, 120, 250],
  },
  warn: { notes: [[523, 0, 0.35]], vibrate: [160] },
};

export function feedback(tone) {
  const spec = TONES[tone] ?? TONES.bad;
  try {
    navigator.vibrate?.(spec.vibrate);
  } catch {}
  if (audio?.state !== "running") return;
  const now = audio.currentTime;
  for (const [frequency, start, length] of spec.notes) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = tone === "ok" ? "sine" : "square";
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, now + start);
    gain.gain.exponentialRampToValueAtTime(0.25, now + start + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + start + length);
    osc.connect(gain).connect(audio.destination);
    osc.start(now + start);
    osc.stop(now + start + length + 0.02);
  }
}
