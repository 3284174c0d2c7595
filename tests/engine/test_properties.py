"""Property-based: no input raises; lines are found among garbage; style never changes the result."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stallscope.engine import EngineError, analyze, scan
from stallscope.engine.render import summary_markdown, timeline_text

from .seedlog import PREFIXES, SEED, colour, render

SEED_LINES = [line for lines in SEED.values() for line in lines]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Garbage that may contain anything but a newline, including tags, brackets, ANSI and invalid UTF-8.
garbage_line = st.one_of(
    st.binary(max_size=120),
    st.lists(st.sampled_from([b"[weights]", b"[gen]", b"[ckpt]", b"[rollout]", b"[", b"]", b"=", b" ", b"\x1b[31m",
                              b"t=", b"wall_ms=", b"-", b"x", b"\xff", b"\r", b"\x00", b"1.5"]), max_size=20).map(b"".join),
).map(lambda data: data.replace(b"\n", b" "))


@FAST
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise_anything_but_engine_errors(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "x.log"
    path.write_bytes(data)
    try:
        report = analyze([path])
    except EngineError as error:  # e.g. bytes that start like gzip: "x.log: cannot decompress ..."
        assert str(path) in str(error) and "\n" not in str(error)
        return
    json.dumps(report, allow_nan=False)
    summary_markdown(report)
    timeline_text(report)


@FAST
@given(st.lists(garbage_line, max_size=30))
def test_tag_soup_never_raises(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("soup") / "x.log"
    path.write_bytes(b"\n".join(lines))
    try:
        report = analyze([path])
    except EngineError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    json.dumps(report, allow_nan=False)
    summary_markdown(report)


@FAST
@given(st.lists(st.tuples(st.sampled_from(SEED_LINES), st.lists(garbage_line, max_size=3)), min_size=1, max_size=25),
       st.sampled_from([7, 64, 4096]))
def test_well_formed_lines_among_garbage_are_all_recognised(tmp_path_factory, monkeypatch_module, pairs, chunk):
    monkeypatch_module.setattr(scan, "CHUNK_BYTES", chunk)
    data = b"log start\n"  # a file that begins with gzip or zstd magic bytes is read as compressed
    for line, noise in pairs:
        for junk in noise:
            # Garbage never forms an event of its own: only seed lines are events.
            if any(tag in junk for tag in (b"[weights][", b"[gen]", b"[ckpt]", b"[rollout]")):
                junk = junk.replace(b"[", b"(")
            data += junk + b"\n"
        data += line.encode() + b"\n"
    path = tmp_path_factory.mktemp("mixed") / "x.log"
    path.write_bytes(data)
    report = analyze([path])
    assert report["inputs"][0]["recognised"] == len(pairs)
    assert report["inputs"][0]["lines"] == data.count(b"\n")


def essentials(report):
    """What must not depend on presentation: metrics, findings, updates, diagnosis."""
    return (report["metrics"], report["findings"], report["updates"], report["diagnosis"],
            [entry["recognised"] for entry in report["inputs"]])


@FAST
@given(st.lists(st.sampled_from(SEED_LINES), min_size=1, max_size=30), st.sampled_from(sorted(PREFIXES)),
       st.booleans(), st.booleans())
def test_result_does_not_depend_on_prefix_colour_or_crlf(tmp_path_factory, messages, prefix, coloured, crlf):
    base = tmp_path_factory.mktemp("plain")
    (base / "x.log").write_bytes(render(messages, prefix="none"))
    styled = tmp_path_factory.mktemp("styled")
    (styled / "x.log").write_bytes(render(messages, prefix=prefix, coloured=coloured, crlf=crlf))
    plain_report, styled_report = analyze([base]), analyze([styled])
    assert essentials(plain_report)[0] == essentials(styled_report)[0]
    assert essentials(plain_report)[2:] == essentials(styled_report)[2:]
    assert [f["id"] for f in plain_report["findings"]] == [f["id"] for f in styled_report["findings"]]


def test_colour_helper_puts_codes_inside_the_line():
    assert "\x1b[0m" in colour("[weights][a] client.send t=1")
