"""Log retention refusals without AWS: a refused shortening names every guard it breaks, and one allowed names none."""

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import retention

SHARED, LOSS = retention.SHARED_LOSS_RISK, retention.DATA_LOSS_RISK


@pytest.mark.parametrize("shared_with, allow_shared, allow_data_loss, exporting, action, risks", [
    ([], False, False, False, retention.REFUSE, [LOSS]),
    ([], False, True, False, retention.SET, []),
    ([], False, False, True, retention.SET, []),
    (["batch-prod"], False, False, False, retention.REFUSE, [SHARED, LOSS]),
    (["batch-prod"], False, True, False, retention.REFUSE, [SHARED]),
    (["batch-prod"], False, False, True, retention.REFUSE, [SHARED]),
    (["batch-prod"], True, False, False, retention.REFUSE, [LOSS]),
    (["batch-prod"], True, True, False, retention.SET, []),
])
def test_a_refused_shortening_names_every_guard_it_breaks(shared_with, allow_shared, allow_data_loss, exporting,
                                                          action, risks):
    plan = retention.plan_retention(True, None, 7, 4096, allow_data_loss, exporting, shared_with, allow_shared)
    assert plan.action == action and plan.shortens
    assert [refusal.risk for refusal in plan.refusals] == risks
    reasons = {refusal.risk: refusal.reason for refusal in plan.refusals}
    if SHARED in reasons:
        assert "shared with batch-prod outside the fleet" in reasons[SHARED]
        assert reasons[SHARED].endswith("set allow_shared_log_groups to proceed")
    if LOSS in reasons:
        assert "of up to 4096 stored bytes" in reasons[LOSS]
        assert reasons[LOSS].endswith("set allow_data_loss or export_bucket to proceed")


@pytest.mark.parametrize("exists, current", [(False, None), (True, 7), (True, 3)])
def test_creating_keeping_or_lengthening_refuses_nothing(exists, current):
    plan = retention.plan_retention(exists, current, 7, 4096, False, False, ["batch-prod"])
    assert plan.action != retention.REFUSE and plan.refusals == ()
