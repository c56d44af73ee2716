"""What each status allows staff to do: the rule the services check and the ticket page shows."""

from __future__ import annotations

import pytest

from servicedesk import rules
from servicedesk.models import TicketStatus

ALLOWED = {
    TicketStatus.OPEN: {rules.REPLY, rules.ASSIGN, rules.PRIORITY, rules.ASSESS, rules.RESOLVE, rules.FILE_REFUND},
    TicketStatus.WAITING: {rules.REPLY, rules.ASSIGN, rules.PRIORITY, rules.ASSESS, rules.RESOLVE, rules.FILE_REFUND},
    TicketStatus.RESOLVED: {rules.REPLY, rules.ASSIGN, rules.ARCHIVE},
    TicketStatus.ARCHIVED: set(),
}


@pytest.mark.parametrize("status", list(TicketStatus))
@pytest.mark.parametrize("action", rules.STAFF_ACTIONS)
def test_each_status_allows_its_actions_and_says_why_not_the_others(status, action):
    refusal = rules.state_refusal(status, action)
    if action in ALLOWED[status]:
        assert refusal is None
    else:
        assert refusal


@pytest.mark.parametrize("status", list(TicketStatus))
def test_an_unknown_action_is_a_programming_error(status):
    with pytest.raises(ValueError):
        rules.state_refusal(status, "delete")
