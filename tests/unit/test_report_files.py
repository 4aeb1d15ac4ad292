"""The report as files: JSON that validates against its schema, Markdown, and a self-contained HTML page."""

import json
import re
from html.parser import HTMLParser

import jsonschema
import pytest
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import prices, report, report_render

from tests.unit.test_savings import build, full_plan, function

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}
SVG_LEAVES = {"rect", "line", "path", "circle"}


class Page(HTMLParser):
    """Collects what a browser would fetch and checks every element is closed in order."""

    def __init__(self):
        super().__init__()
        self.open, self.fetched, self.text, self.tags = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "action", "data") or (value and "url(" in value):
                self.fetched.append((tag, name, value))
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.fetched += [(tag, name, value) for name, value in attrs if name in ("src", "href", "xlink:href")]

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def sample():
    usage = [function("busy-dev", 3_360_000, errors=3_360, cold_starts=3_360, log_ingested_bytes=1 << 30),
             function("quiet-dev", 3_360, log_ingested_bytes=1 << 20),
             function("idle-dev", 0),
             function("odd|name<script>-dev", 336)]
    return build(usage, full_plan("busy-dev"), prices.load("us-east-1"))


def test_the_json_validates_against_its_schema(sample):
    schema = json.loads(report.SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    written = json.loads(report.to_json(sample))
    jsonschema.validate(written, schema, format_checker=jsonschema.FormatChecker())
    broken = {**written, "totals": {**written["totals"], "before": {"expected": 1}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_the_html_parses_fetches_nothing_and_shows_every_function(sample):
    page = report_render.html(sample)
    parser = Page()
    parser.feed(page)
    parser.close()
    assert parser.open == []
    assert parser.fetched == []
    assert not re.search(r"https?:|//[a-z]|@import", page)
    assert "script" not in parser.tags and "svg" in parser.tags
    text = "".join(parser.text)
    for row in sample["functions"]:
        assert row["function_name"] in text
    assert parser.tags.count("rect") == 2 * (len(sample["functions"]) + 1)  # before and after, + shared
    assert sample["label"] in text
    assert "5 is below the peak 9" in text and "throttling" in text  # a refused change and its risk
    assert "max memory used 700 MB x 1.3" in text  # a change and its reason


def test_the_markdown_names_every_function_and_the_totals(sample):
    page = report_render.markdown(sample)
    assert page.startswith("# Lambda savings: 123456789012 us-east-1")
    assert "Projected savings of the plan (dry run: nothing was changed)" in page
    for row in sample["functions"]:
        assert row["function_name"].replace("|", "\\|") in page
    assert "idle-dev (no usage data)" in page
    total = report_render.money(sample["totals"]["savings"]["expected"])
    assert f"**{total}**" in page
    assert "Risk: throttling." in page


def test_file_names_keep_hosts_and_runs_apart(sample):
    applied = {**sample, "mode": "applied"}
    assert report.file_stem(sample).endswith("-dry-run")
    assert report.file_stem(applied).startswith("lambdaopt-savings-123456789012-us-east-1-")
    assert report.file_stem(applied) != report.file_stem({**applied, "region": "eu-west-1"})


def test_a_refusal_by_a_guard_of_the_functions_context_names_it():
    plan = full_plan("queue-dev")
    plan["rightsize"]["functions"][0]["refused"].append(
        {"field": "timeout", "requested": 60, "reason": "60 s exceeds the 30 s visibility timeout of queue jobs-dev",
         "risk": "messages processed twice", "context": "sqs"})
    built = build([function("queue-dev", 33_600)], plan, prices.load("us-east-1"))
    texts = [text for _, text in report_render.notes(built)["refused"]]
    assert any(text.startswith("timeout 60 refused by its SQS queue: ") for text in texts)
    assert any(text.startswith("reserved_concurrency 5 refused: ") for text in texts)  # no context, as before
    jsonschema.validate(json.loads(report.to_json(built)), json.loads(report.SCHEMA.read_text()))
