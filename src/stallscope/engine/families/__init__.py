"""The registry of log families. A new family is one module here, appended to FAMILIES.

A family module brings, through one interface (docs/architecture.md, "The family interface"):

- its parser: NAME, TAGS (byte strings whose presence makes a line a candidate), LOOKED_FOR (what
  the no-recognised-lines message names), EVENT (a compiled str pattern matching a line's first
  event and running to the end of that line: `.` stops at a newline, so the scanner runs it once
  over many lines), event(match) -> event dict | None and parse(text) -> event dict | None for one
  line, both raising base.MalformedLine for an event's shape with unreadable fields. Optional:
  PRESENT, substrings one of which a chunk of text holds whenever it holds an event (default:
  TAGS); the scanner runs the family's pattern only over chunks that have one;
- its partial state: Partial(store, sink, file_id, data) for one file, with add(event) and dump()
  (plain data, resumed as `data`); rows go to the store, samples to the sink;
- its run: run(store, inputs, partials, clocks) -> records; seen(records, store);
  samples(records, store, seen) -> {metric: samples}; report(records, metrics, run_info) -> the
  report sections it adds (when seen, or always with ALWAYS_REPORTED); optionally
  judged(records, values) -> the samples the findings judge, less what it does not judge;
- optionally, its timeline: timeline(records) -> {stream: rows}, the streams the report's timeline
  holds (timeline.txt, per_step.txt, report.html read them);
- optionally, its settled part: settle(store, files, partials, ids, thresholds), keeping in the
  saved state what of its records later bytes cannot change, which run() then continues from;
- optionally, its figures: SECTION, the report section whose keys compare.report_value reads as
  `<SECTION>.<key>`, and figure(section, key) for figures the section does not hold as shown;
- optionally (with SECTION), its compare part: COMPARED_METRICS, COMPARED_FIGURES, COMPARED_TITLE,
  COMPARED_EMPTY_ROWS, RUN_FIGURES and criteria(before, after, table) -> criteria, which compare.py
  uses for two reports that both have its SECTION (prime-rl's otherwise); optionally guards(criterion),
  true for a criterion fix_verdict lists among what decided a verdict even when it passes;
- its findings: FINDINGS, modules of findings/, in tie-break order.

FAMILIES are read line by line. SAMPLERS are families of whole files whose lines have no tag (a
tool's own output, recognised by its head): instead of the parser they have sniff(path) -> bool and
scan(path, on_event) -> counts, and, when their files are not named as logs are, FILE_NAME (a
pattern of the names discover() then also takes in directories, when sniff() does). A family may be
both: Dask reads its log lines and, whole, distributed's performance report.
"""

from . import batch, dask, gpu, prime_rl
from .base import MalformedLine

FAMILIES = [prime_rl, dask, batch]
SAMPLERS = [gpu, dask]
# Every family with a run side, in the findings' tie-break order: a sampler's findings (symptoms)
# after the causes the prime-rl findings name, then the Dask calibration's, the batch inference's last.
RUNS = [prime_rl, gpu, dask, batch]
FINDINGS = [finding for family in RUNS for finding in family.FINDINGS]

__all__ = ["FAMILIES", "FINDINGS", "RUNS", "SAMPLERS", "MalformedLine"]
