"""The check catalogue: one explicit list, in the order results are reported.

Shipped as `cipp_setup.checks` (see pyproject.toml), never as a top-level `checks`.
Each check is one file: its spec, its `run`, and, when cipp-setup can fix it, its
planner (a `FixableCheck`). `CATALOGUE` is a value: a front end or a test that needs
other checks builds its own (`CATALOGUE.with_checks(...)`) and passes it in; nothing
here changes when something else is imported.
The current-generation checks (issue 5) are in REGISTRY with `generations={"current"}`;
api-token and api-list-logs apply to both. `checks_for` picks a generation's checks,
keeping catalogue order. `detect_generation` (auto) decides legacy or current from the
tenant, through the same shared look-ups the checks use. Within current, `profiles` splits
7.2-7.3 (sam-user-app-registration: the CIPP-SAM user writes the clients) from 7.4+
(sam-app-graph-application-permissions: the CIPP-SAM app does); `detect_profile` decides.
"""

from __future__ import annotations

from cipp_setup.engine.catalogue import Catalogue
from cipp_setup.engine.model import Check, Generation

from ._generation import GenerationVerdict, ProfileVerdict, detect_generation, detect_profile
from .api_client_app import ApiClientApp
from .api_easy_auth import ApiEasyAuth
from .api_list_logs import ApiListLogs
from .api_token import ApiTokenCheck
from .function_app_identity import FunctionAppManagedIdentity
from .sam_app_consent import SamAppAzureManagementConsent
from .sam_app_graph_permissions import SamAppGraphApplicationPermissions
from .sam_user_app_registration import SamUserAppRegistration
from .sam_user_global_admin import SamUserGlobalAdmin
from .subscription_contributor import SamUserSubscriptionContributor

REGISTRY: tuple[Check, ...] = (
    SamUserGlobalAdmin(),
    SamAppAzureManagementConsent(),
    SamUserSubscriptionContributor(),
    SamUserAppRegistration(),
    SamAppGraphApplicationPermissions(),
    FunctionAppManagedIdentity(),
    ApiClientApp(),
    ApiEasyAuth(),
    ApiTokenCheck(),
    ApiListLogs(),
)

CATALOGUE = Catalogue(REGISTRY)


def get_check(check_id: str) -> Check:
    """The built-in check with this id; KeyError (naming the known ids) otherwise."""
    return CATALOGUE.get(check_id)


def checks_for(generation: Generation) -> tuple[Check, ...]:
    """The built-in checks that apply to an instance of this generation, in catalogue order."""
    return CATALOGUE.for_generation(generation)


def all_ids() -> tuple[str, ...]:
    return CATALOGUE.ids()


__all__ = [
    "CATALOGUE", "REGISTRY", "GenerationVerdict", "ProfileVerdict", "all_ids", "checks_for", "detect_generation",
    "detect_profile", "get_check",
]
