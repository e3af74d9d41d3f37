"""Keyboard-wedge decoding with synthetic key timings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scanner import LAYOUT_HINT, Scan, Typed, WedgeDecoder, scan_from_line, undo_layout


def type_keys(decoder: WedgeDecoder, text: str, start: float = 10.0, gap: float = 0.01,
              gaps: list[float] | None = None) -> tuple[list[Scan | Typed], float]:
    """Feed ``text`` key by key; returns the decisions and the time of the last key."""
    out: list[Scan | Typed] = []
    t = start
    for i, char in enumerate(text):
        if i:
            t += gaps[i - 1] if gaps else gap
        out += decoder.feed(char, t)
    return out, t


def test_fast_burst_with_enter_is_one_scan() -> None:
    d = WedgeDecoder()
    out, _ = type_keys(d, "7610000000011\r", gap=0.008)
    assert out == [Scan("7610000000011\r", "7610000000011")]
    assert d.pending == ""


def test_keys_are_held_until_the_burst_is_decided_then_released_by_flush() -> None:
    d = WedgeDecoder()
    out, last = type_keys(d, "12", gap=0.01)
    assert out == []
    assert d.pending == "12"
    assert d.deadline == pytest.approx(last + 0.05)
    assert d.flush(last + 0.03) == []  # still inside the gap
    assert d.flush(last + 0.06) == [Typed("12")]
    assert d.deadline is None


def test_slow_typing_then_enter_is_typed_not_a_scan() -> None:
    d = WedgeDecoder()
    out, last = type_keys(d, "7610000000011\r", gap=0.15)
    out += d.flush(last + 1)
    assert all(isinstance(x, Typed) for x in out)
    assert "".join(x.text for x in out if isinstance(x, Typed)) == "7610000000011\r"


def test_fast_typist_with_uneven_gaps_is_typed() -> None:
    # A quick typist: some key pairs under 50 ms (rollover), most not.
    gaps = [0.03, 0.09, 0.04, 0.12, 0.02, 0.08, 0.035]
    d = WedgeDecoder()
    out, last = type_keys(d, "12345678", gaps=gaps)
    out += d.feed("\r", last + 0.03)
    out += d.flush(last + 1)
    assert not any(isinstance(x, Scan) for x in out)
    assert "".join(x.text for x in out if isinstance(x, Typed)) == "12345678\r"


def test_short_fast_burst_is_typed_below_min_length() -> None:
    d = WedgeDecoder(min_length=4)
    out, _ = type_keys(d, "12\r", gap=0.01)
    assert out == [Typed("12\r")]


def test_slow_gap_before_enter_breaks_the_scan() -> None:
    d = WedgeDecoder()
    out, last = type_keys(d, "76100000", gap=0.01)
    out += d.feed("\r", last + 0.2)
    out += d.flush(last + 1)
    assert out == [Typed("76100000"), Typed("\r")]


def test_cr_lf_suffix_gives_one_scan_and_no_stray_enter() -> None:
    d = WedgeDecoder(suffix="\r")
    out, last = type_keys(d, "4006381333931\r\n", gap=0.005)
    out += d.flush(last + 1)
    assert out == [Scan("4006381333931\r", "4006381333931")]
    # A later Enter, typed by a person, still goes through.
    assert d.feed("\r", last + 2) == [Typed("\r")]


def test_suffix_cr_lf_configured_and_scanner_sends_it() -> None:
    d = WedgeDecoder(suffix="\r\n")
    out, _ = type_keys(d, "ABC123\r\nXYZ789\r\n", gap=0.005)
    assert [x.normalised for x in out if isinstance(x, Scan)] == ["ABC123", "XYZ789"]
    assert len(out) == 2


def test_custom_suffix_tab() -> None:
    d = WedgeDecoder(suffix="\t")
    out, _ = type_keys(d, "L4FU-5LQT-KJR3\t", gap=0.005)
    assert out == [Scan("L4FU-5LQT-KJR3\t", "L4FU-5LQT-KJR3")]


def test_prefix_is_stripped_and_marks_a_scan() -> None:
    d = WedgeDecoder(prefix="]C1", min_length=4)
    out, _ = type_keys(d, "]C17610000000011\r", gap=0.005)
    assert out == [Scan("]C17610000000011\r", "7610000000011")]
    # With the prefix, even a short code counts as a scan.
    out, _ = type_keys(d, "]C1AB\r", start=20, gap=0.005)
    assert out == [Scan("]C1AB\r", "AB")]


def test_lower_case_and_spaces_are_normalised() -> None:
    d = WedgeDecoder()
    out, _ = type_keys(d, " l4fu-5lqt-kjr3 \r", gap=0.005)
    assert out == [Scan(" l4fu-5lqt-kjr3 \r", "L4FU-5LQT-KJR3")]


def test_typing_then_a_scan_keeps_both_apart() -> None:
    d = WedgeDecoder()
    out, last = type_keys(d, "3*", gap=0.3)  # quantity typed slowly
    more, last = type_keys(d, "7610000000028\r", start=last + 0.5, gap=0.006)
    assert out + more == [Typed("3"), Typed("*"), Scan("7610000000028\r", "7610000000028")]


def test_azerty_digits_are_mapped_back_and_the_hint_comes_once() -> None:
    d = WedgeDecoder()
    assert d.take_hint() is None
    out, last = type_keys(d, "à&é\"'(-è_ç\r", gap=0.005)
    assert out == [Scan("à&é\"'(-è_ç\r", "0123456789", layout="azerty")]
    assert d.hint == LAYOUT_HINT
    assert "AZERTY" in LAYOUT_HINT and "QWERTZ/QWERTY" in LAYOUT_HINT
    assert d.take_hint() == LAYOUT_HINT
    out, _ = type_keys(d, "ç&&&\r", start=last + 1, gap=0.005)
    assert out == [Scan("ç&&&\r", "9111", layout="azerty")]
    assert d.take_hint() is None  # once only


def test_azerty_ean_as_it_arrives_on_a_swiss_till() -> None:
    # A scanner set to AZERTY sends Shift+digit keys; a Swiss QWERTZ till reads =+"*ç%&/().
    arrived = "".join('=+"*ç%&/()'[int(c)] for c in "7610000000011")
    assert arrived == "/&+========++"
    d = WedgeDecoder()
    out, _ = type_keys(d, arrived + "\r", gap=0.005)
    assert [(x.normalised, x.layout) for x in out] == [("7610000000011", "azerty-on-qwertz")]


def test_azerty_on_us_qwerty_with_letters_and_dash() -> None:
    # Code "AZ-12": A/Q and Z/W swap, dash arrives as 6, digits as !@.
    assert undo_layout("QW6!@") == ("azerty-on-qwerty", "AZ-12")


def test_genuine_codes_are_never_corrected() -> None:
    for code in ("L4FU-5LQT-KJR3", "ABCD-EFGH", "QWAZ", "168-12345-67890", "7610000000011"):
        assert undo_layout(code) == (None, code)


def test_timing_can_be_turned_off() -> None:
    d = WedgeDecoder(max_gap_s=None)
    out, _ = type_keys(d, "7610000000011\r", gap=1.0)
    assert out == [Scan("7610000000011\r", "7610000000011")]
    assert d.deadline is None


def test_overlong_burst_is_released_as_typing() -> None:
    d = WedgeDecoder(max_length=10)
    out, _ = type_keys(d, "1" * 30, gap=0.001)
    assert out and all(isinstance(x, Typed) for x in out)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="suffix"):
        WedgeDecoder(suffix="")
    with pytest.raises(ValueError):
        WedgeDecoder(min_length=0)
    with pytest.raises(ValueError, match="one character"):
        WedgeDecoder().feed("ab", 0.0)


def test_scan_from_line_for_line_mode() -> None:
    assert scan_from_line("]C1123456\n", prefix="]C1") == Scan("]C1123456\n", "123456")
    assert scan_from_line("à&é\"\n").normalised == "0123"


CODE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"


@settings(max_examples=300, deadline=None)
@given(
    code=st.text(CODE_CHARS, min_size=4, max_size=60),
    gaps=st.lists(st.floats(0.0005, 0.045), min_size=70, max_size=70),
    suffix=st.sampled_from(["\r", "\r\n", "\n", "\t"]),
    prefix=st.sampled_from(["", "]C1", "\x02"]),
    start=st.floats(0, 1e6),
)
def test_any_code_typed_as_a_burst_comes_out_identical(code: str, gaps: list[float], suffix: str,
                                                       prefix: str, start: float) -> None:
    d = WedgeDecoder(suffix=suffix, prefix=prefix)
    sent = prefix + code + suffix
    out, last = type_keys(d, sent, start=start, gaps=gaps)
    out += d.flush(last + 1)
    raw = sent[:-1] if suffix == "\r\n" else sent  # the LF of CR+LF is swallowed
    assert out == [Scan(raw, code)]
    assert d.hint is None
