"""Plain-text summary of a `bench eval` outcome (what the CLI prints)."""
from __future__ import annotations

from bench.accuracy.session import EvalOutcome


def summary_lines(outcome: EvalOutcome) -> list[str]:
    """Lines: data and fingerprint, per model and target top-1/top-5 with intervals, drift, McNemar."""
    n_text = f"{outcome.limit} evenly spaced of {outcome.dataset_size}" if outcome.limit else f"all {outcome.dataset_size}"
    lines = [f"data: {outcome.data} ({n_text} images), fingerprint {outcome.dataset_fingerprint[:16]}",
             "intervals: exact (Clopper-Pearson) 95 %"]
    for r in outcome.results:
        form = "deploy form" if r.checkpoint_form == "deploy" else "train form -> deploy form"
        note = ", 'module.' prefix stripped" if r.prefix_stripped else ""
        lines.append(f"{r.model}: checkpoint {r.checkpoint.name} sha256 {r.checkpoint_sha256[:12]} ({form}{note})")
        for target, preds in ((r.eager_target + " eager", r.eager), ("mobile .pte", r.pte)):
            if preds is None:
                continue
            k5 = preds.topk.shape[1]
            lines.append(f"  {target:<12} top-1 {preds.top(1).percent_text()}  top-{k5} "
                         f"{preds.top(5).percent_text()}  {preds.images_per_s:.0f} img/s")
        drift = r.drift()
        if drift is not None:
            lines.append(f"  export drift: .pte top-1 minus eager {100 * drift.difference:+.2f} points "
                         f"({drift.only_a} images right only on .pte, {drift.only_b} only eager; exact McNemar "
                         f"p = {drift.p_value:.3g})")
    if outcome.paired is not None:
        a, b = (f"{r.model} ({r.checkpoint.name})" for r in outcome.results)  # the same model twice is common
        p = outcome.paired
        lines.append(f"paired on the same {p.n} images: {a} minus {b} = {100 * p.difference:+.2f} "
                     f"points top-1; {p.only_a} right only by {a}, {p.only_b} only by {b}; "
                     f"exact McNemar p = {p.p_value:.3g}")
    return lines
