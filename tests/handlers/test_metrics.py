"""emit_metrics prints one well-formed CloudWatch Embedded Metric Format line per call."""

import json

import pytest
from lambdaopt_shared import emit_metrics

from tests.handlers.emf import check_emf, printed


def test_one_line_in_the_documented_structure(capsys, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "transform-dev")
    monkeypatch.setenv("METRICS_NAMESPACE", "lambdaopt/test")
    emit_metrics({"RecordsProcessed": 3, "RecordsFailed": 0})

    (line,) = capsys.readouterr().out.splitlines()
    document = json.loads(line)
    check_emf(document)
    assert document["_aws"]["CloudWatchMetrics"] == [{
        "Namespace": "lambdaopt/test",
        "Dimensions": [["FunctionName"]],
        "Metrics": [{"Name": "RecordsProcessed", "Unit": "Count"}, {"Name": "RecordsFailed", "Unit": "Count"}],
    }]
    assert {key: value for key, value in document.items() if key != "_aws"} == {
        "FunctionName": "transform-dev", "RecordsProcessed": 3, "RecordsFailed": 0,
    }


def test_namespace_and_function_name_have_defaults(capsys):
    emit_metrics({"RecordsProcessed": 1})

    _, (document,) = printed(capsys)
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "lambdaopt/pipeline"
    assert document["FunctionName"] == "local"


def test_a_hundred_metrics_fit_in_one_line(capsys):
    emit_metrics({f"Metric{number}": number for number in range(100)})

    _, (document,) = printed(capsys)
    assert len(document["_aws"]["CloudWatchMetrics"][0]["Metrics"]) == 100


@pytest.mark.parametrize("counts", [
    {},
    {f"Metric{number}": number for number in range(101)},
    {"RecordsProcessed": "3"},
    {"RecordsProcessed": True},
    {"RecordsProcessed": float("nan")},
    {"RecordsProcessed": float("inf")},
    {"FunctionName": 1},
    {"_aws": 1},
], ids=["none", "over-100", "string", "bool", "nan", "infinity", "dimension-name", "metadata-name"])
def test_lines_cloudwatch_would_drop_are_refused(counts, capsys):
    with pytest.raises(ValueError):
        emit_metrics(counts)
    assert capsys.readouterr().out == ""
