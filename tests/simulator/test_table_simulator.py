"""The table usage model: seeded, steady and spiky as its profiles say, throttled only above provisioned capacity;
and the metrics it writes into the emulator."""

from datetime import UTC, datetime, timedelta

import pytest

from tools import table_simulator
from tools.table_simulator import PROVISIONED, TableCapacity, load_table_profiles, simulate_table
from tools.usage_model import default_end

END = datetime(2026, 11, 23, 12, tzinfo=UTC)
PROFILES, ASSIGNED = load_table_profiles()
ON_DEMAND = TableCapacity("PAY_PER_REQUEST")
AMPLE = TableCapacity(PROVISIONED, 100, 100)


def run(profile: str, capacity: TableCapacity = ON_DEMAND, seed: int = 0, days: int = 14):
    return simulate_table(f"{profile}-table", PROFILES[profile], capacity, END, days=days, seed=seed)


def test_profiles_exist_and_the_baseline_table_is_steady():
    assert {"steady", "spiky"} <= set(PROFILES)
    assert ASSIGNED == {"data-table": "steady"}


def test_same_seed_same_history_and_other_seed_other_history():
    assert run("steady").hours == run("steady").hours
    assert run("steady").hours != run("steady", seed=1).hours


def test_history_covers_the_window_hour_by_hour():
    usage = run("steady", days=3)
    assert len(usage.hours) == 72
    assert usage.hours[0].start == END - timedelta(days=3)
    assert usage.hours[-1].start == END - timedelta(hours=1)


def test_a_steady_table_uses_a_few_units_a_second_with_a_low_peak():
    usage = run("steady", AMPLE)
    assert usage.average("read") == pytest.approx(4, rel=0.05)
    assert usage.average("write") == pytest.approx(2, rel=0.05)
    for side in ("read", "write"):
        assert 1.4 < usage.peak(side) / usage.average(side) < 2.2  # the daily curve, and a little noise
    assert not any(hour.burst for hour in usage.hours)


def test_a_spiky_table_is_quiet_with_rare_bursts_of_twenty_times_and_more():
    usage = run("spiky")
    bursts = [hour for hour in usage.hours if hour.burst]
    assert 0 < len(bursts) <= 24  # about half an hour a day
    assert usage.average("read") < 1.5
    for side in ("read", "write"):
        assert usage.peak(side) / usage.average(side) > 20
    quiet = max(hour.read_units for hour in usage.hours if not hour.burst)
    assert min(hour.read_units for hour in bursts) > 5 * quiet


def test_a_short_window_of_a_spiky_table_still_has_a_burst():
    assert any(hour.burst for hour in run("spiky", days=1).hours)


def test_an_on_demand_table_is_never_throttled():
    assert run("spiky", ON_DEMAND).throttle_events == 0
    assert run("steady", AMPLE).throttle_events == 0


def test_throttles_only_in_hours_above_the_provisioned_capacity():
    demand = run("steady")
    tight = run("steady", TableCapacity(PROVISIONED, 6, 3))
    assert tight.throttle_events > 0
    for wanted, served in zip(demand.hours, tight.hours, strict=True):
        for side, capacity in (("read", 6), ("write", 3)):
            asked, used = getattr(wanted, f"{side}_units"), getattr(served, f"{side}_units")
            events = getattr(served, f"{side}_throttle_events")
            if asked > capacity * 3600:
                assert used == capacity * 3600 and events == pytest.approx(asked - used, abs=1)
            else:
                assert used == asked and events == 0


def test_metrics_written_into_the_emulator_are_the_history(aws):
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(TableName="orders-dev", BillingMode="PROVISIONED",
                          ProvisionedThroughput={"ReadCapacityUnits": 6, "WriteCapacityUnits": 3},
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    usage = table_simulator.write_table_usage(aws, "orders-dev", "steady", days=2)
    assert usage.capacity == TableCapacity(PROVISIONED, 6, 3)  # read from the table
    assert usage.hours[-1].start == default_end() - timedelta(hours=1)
    cloudwatch = aws.client("cloudwatch")

    def hourly(metric):
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/DynamoDB", MetricName=metric, Dimensions=[{"Name": "TableName", "Value": "orders-dev"}],
            StartTime=usage.hours[0].start, EndTime=default_end(), Period=3600, Statistics=["Sum"])["Datapoints"]
        return {point["Timestamp"].astimezone(UTC): point["Sum"] for point in points}

    consumed = hourly("ConsumedReadCapacityUnits")
    assert consumed == {hour.start: hour.read_units for hour in usage.hours}
    throttled = hourly("WriteThrottleEvents")
    assert throttled == {hour.start: hour.write_throttle_events for hour in usage.hours if hour.write_throttle_events}
    assert set(hourly("ProvisionedReadCapacityUnits").values()) == {6}


def test_an_on_demand_table_gets_no_provisioned_capacity_metrics(aws):
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(TableName="events-dev", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    usage = table_simulator.write_table_usage(aws, "events-dev", PROFILES["spiky"], days=1)
    assert usage.capacity == ON_DEMAND
    names = {metric["MetricName"] for metric in aws.client("cloudwatch").list_metrics(
        Namespace="AWS/DynamoDB")["Metrics"]}
    assert names == {"ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"}
