"""Tests of merbench.markdown: values in Markdown files render as themselves."""

from __future__ import annotations

import pytest

from merbench import markdown


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("<b>bold</b> & co", "&lt;b&gt;bold&lt;/b&gt; &amp; co"),
        ("a|b", "a\\|b"),
        ("[x](javascript:alert(1))", "\\[x\\](javascript:alert(1))"),
        ("weight_decay *2*", "weight\\_decay \\*2\\*"),
        ("two\nlines", "two lines"),
        ("`code` $x$ ~y~ \\", "\\`code\\` \\$x\\$ \\~y\\~ \\\\"),
    ],
)
def test_text_escapes_html_and_markdown_syntax(text, escaped):
    assert markdown.text(text) == escaped


@pytest.mark.parametrize(
    ("value", "span"),
    [
        ("lr=0.001", "`lr=0.001`"),
        ("weight_decay <b>", "`weight_decay <b>`"),  # nothing is read inside a code span
        ("a`b", "``a`b``"),
        ("``x", "``` ``x ```"),
        ("two\nlines", "`two lines`"),
    ],
)
def test_code_fences_a_value_longer_than_its_backticks(value, span):
    assert markdown.code(value) == span
