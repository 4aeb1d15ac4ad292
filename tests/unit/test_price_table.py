"""The price table: one data file, every price checked, no silent region."""

import pytest
import yaml
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import prices

from tests.unit.test_savings import ROUND_PRICES


def table(**changes):
    data = yaml.safe_load(ROUND_PRICES)
    for path, value in changes.items():
        node = data
        *parents, last = path.split("__")
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return data


def test_the_shipped_table_states_its_source_and_date_and_prices_every_item():
    shipped = prices.read_table(prices.DEFAULT_TABLE)
    assert shipped["checked"] and shipped["sources"]["lambda"].startswith("https://aws.amazon.com/")
    for region in shipped["regions"]:
        resolved = prices.resolve(shipped, "shipped", region)
        assert set(resolved.gb_second) == {"x86_64", "arm64"}


def test_an_unknown_region_is_an_error_that_says_what_to_do():
    with pytest.raises(prices.PriceTableError, match="no checked prices for region eu-central-1.*price_region"):
        prices.load("eu-central-1")


def test_a_fallback_region_is_used_only_when_named_and_is_reported():
    resolved = prices.load("eu-central-1", fallback_region="us-east-1")
    assert resolved.is_fallback and resolved.describe()["region"] == "us-east-1"
    assert resolved.describe()["fleet_region"] == "eu-central-1"
    assert not prices.load("us-east-1", fallback_region="eu-central-1").is_fallback
    with pytest.raises(prices.PriceTableError, match="price_region ap-south-1 is not in"):
        prices.load("eu-central-1", fallback_region="ap-south-1")


@pytest.mark.parametrize("changes, message", [
    ({"regions__us-east-1__xray": None}, r"regions.us-east-1.xray.per_million_traces_recorded is missing"),
    ({"regions__us-east-1__logs__ingestion_per_gb": "cheap"}, "must be a number"),
    ({"regions__us-east-1__sqs__per_million_requests": "-1"}, "0 or more"),
    ({"regions__us-east-1__lambda__gb_second": None}, "must map architectures to prices"),
    ({"checked": None}, "'checked' is missing"),
    ({"regions": None}, "no 'regions' mapping"),
])
def test_an_incomplete_table_is_refused_by_name(tmp_path, changes, message):
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(table(**changes)))
    with pytest.raises(prices.PriceTableError, match=message):
        prices.load("us-east-1", path)


def test_an_unreadable_table_is_a_clear_error(tmp_path):
    with pytest.raises(prices.PriceTableError, match="cannot read the price table"):
        prices.load("us-east-1", tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("regions: [unclosed")
    with pytest.raises(prices.PriceTableError, match="not valid YAML"):
        prices.load("us-east-1", broken)


def test_an_architecture_without_a_price_is_an_error():
    with pytest.raises(prices.PriceTableError, match="architecture 'riscv'"):
        prices.load("us-east-1").gb_second_for("riscv")
