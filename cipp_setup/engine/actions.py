"""The one table of action kinds: what applies each kind of change a plan names.

A planner (a `FixableCheck.plan` in `checks/`) emits `PlannedChange`s whose `action` is a
key of `ACTIONS`; `fixes.apply_change` looks the applier up here and nowhere else. The
table is a literal: importing this module registers nothing anywhere, and nothing adds
to it later. The removals `revert` makes are not here: they undo journal entries, not
plans (`cipp_setup.engine.revert`).

Adding a kind of change: its name in `plan.py` (and `plan.ARM_ACTIONS` when it goes
through ARM), its applier in `appliers_graph` or `appliers_arm`, one row below.
"""

from __future__ import annotations

from typing import Mapping

from cipp_setup.engine import appliers_arm as arm
from cipp_setup.engine import appliers_graph as graph
from cipp_setup.engine import plan as p
from cipp_setup.engine.fix_runtime import Applier

ACTIONS: Mapping[str, Applier] = {
    # Microsoft Graph
    p.CREATE_DIRECTORY_ROLE_ASSIGNMENT: graph.apply_directory_role_assignment,
    p.ACTIVATE_PIM_ROLE: graph.apply_self_activation,
    p.CREATE_SERVICE_PRINCIPAL: graph.apply_service_principal,
    p.ADD_REQUIRED_RESOURCE_ACCESS: graph.apply_required_resource_access,
    p.ADD_REQUIRED_APP_ROLES: graph.apply_required_app_roles,
    p.CREATE_OAUTH2_PERMISSION_GRANT: graph.apply_grant,
    p.EXTEND_OAUTH2_PERMISSION_GRANT: graph.apply_grant,
    p.CREATE_APP_ROLE_ASSIGNMENT: graph.apply_app_role_assignment,
    p.ADD_IDENTIFIER_URI: graph.apply_identifier_uri,
    p.ADD_CLIENT_SECRET: graph.apply_client_secret,
    # Azure Resource Manager
    p.CREATE_ARM_ROLE_ASSIGNMENT: arm.apply_arm_role_assignment,
    p.CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT: arm.apply_arm_role_assignment,
    p.ENABLE_MANAGED_IDENTITY: arm.apply_enable_identity,
    p.UPDATE_EASY_AUTH: arm.apply_easy_auth,
}


def applier_for(action: str) -> Applier:
    """The applier of an action kind; KeyError naming the kind when there is none."""
    try:
        return ACTIONS[action]
    except KeyError:
        raise KeyError(f"no applier for action kind {action!r}") from None
