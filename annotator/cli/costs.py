"""annotate's cost side: --estimate (no LLM call) and --batch (the Batch API), printed for the user."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .ui import console, out, progress_bar

if TYPE_CHECKING:
    from ..annotate import RunOptions
    from ..annotate.batch import BatchReport
    from ..endpoints import LLMTarget


def estimate_target(base_url: str | None, model: str | None) -> LLMTarget:
    """The LLM an estimate is for: as `annotate` resolves it, or OpenAI when only a model is named."""
    from ..endpoints import LLMTarget, resolve_llm
    from ..errors import LLMError
    from ..settings import llm_settings

    try:
        return resolve_llm(base_url, model)
    except LLMError:
        chosen = llm_settings(base_url, model)
        if chosen.base_url is None and chosen.model:
            return LLMTarget(base_url=None, api_key=None, model=chosen.model, embedded=False)
        raise


def print_estimate(db: Any, client: Any, schema: Any, prompt: Any, options: RunOptions, *, price_in: float | None,
                   price_out: float | None, price_cached_in: float | None, batch: bool) -> None:
    """Print what drafting the pending sentences would cost; nothing is sent to the LLM."""
    from ..annotate.estimate import Prices, describe
    from ..annotate.estimate_edge import estimate_pending
    from ..errors import InputError

    if (price_in is None) != (price_out is None):
        raise InputError("--price-in and --price-out go together (USD per million tokens, e.g. --price-in 0.15 "
                         "--price-out 0.6)")
    prices = Prices(price_in, price_out, price_cached_in, batch=batch)
    with console.status("Rendering the prompts of the pending sentences"):
        figures = estimate_pending(db, client, schema, prompt, prices, options)
    for line in describe(figures, client.model, prompt.version):
        out.print(line, highlight=False, soft_wrap=True)


def run_batch(db: Any, client: Any, schema: Any, prompt: Any, options: RunOptions) -> BatchReport:
    """annotate --batch with a progress bar per batch; Ctrl-C leaves the batch running at the server."""
    from ..annotate.batch import BatchHooks, annotate_batch

    with progress_bar() as bar:
        task = bar.add_task("Batch", total=None)
        hooks = BatchHooks(
            phase=lambda text: bar.update(task, description=text),
            batch=lambda s: bar.update(task, description=f"Batch {s.provider_id}: {s.status}",
                                       completed=s.done + s.failed, total=s.total or None),
        )
        try:
            return annotate_batch(db, client, schema, prompt, options, hooks=hooks)
        except KeyboardInterrupt:
            bar.stop()
            console.print("Interrupted: a batch already sent keeps running at the server and is paid for once; "
                          "run the same command to collect it.")
            sys.exit(130)


def print_batch_report(report: BatchReport) -> None:
    """The batches a run created or finished, before the usual summary."""
    if report.resumed:
        out.print(f"Picked up {len(report.resumed)} batch(es) left running: {', '.join(report.resumed)}.",
                  highlight=False)
    if report.created:
        out.print(f"Sent {len(report.created)} batch(es): {', '.join(report.created)}"
                  + (f"; {report.online_reasks} re-asks sent online" if report.online_reasks else "") + ".",
                  highlight=False)
    if report.failed_requests:
        out.print(f"{report.failed_requests} request(s) were not answered by their batch (errors or expiry).",
                  highlight=False)
    if report.unreadable_lines:
        n = report.unreadable_lines
        whose = "its request failed and is" if n == 1 else "their requests failed and are"
        out.print(f"{n} result line{'' if n == 1 else 's'} could not be read; {whose} asked again on the next run.",
                  highlight=False)
    if report.unknown_lines:
        n, shown = len(report.unknown_lines), ", ".join(report.unknown_lines[:3])
        out.print(f"{n} result line{'' if n == 1 else 's'} named no request of this run's batches ({shown}"
                  f"{', ...' if n > 3 else ''}) and {'was' if n == 1 else 'were'} ignored.", highlight=False)
