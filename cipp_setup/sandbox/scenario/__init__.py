"""Scenario files: a YAML (or JSON) description of a tenant and its CIPP instance.

`load_scenario(name_or_path)` reads a built-in scenario (``scenarios/*.yaml`` inside the
package) or a file, validates it against ``scenario.schema.json``, and builds a fresh
`TenantState` on top of `baseline.baseline_state`. Objects are named by short keys; every
id a file leaves out is derived with uuid5 from the scenario name and the object's key, so
a scenario gives the same ids on every run.

Every problem with a file — unreadable, bad YAML, a schema violation, a reference to a key
that does not exist, a permission the resource does not expose — raises `ScenarioError`,
whose message is one line naming the file, the field (``users.sam.upn``,
``directory_roles[2].principal``) and what was expected. The file format is documented in
docs/scenarios.md.

Where each step lives:

- `builtin`: the built-in scenarios; `source`: reading a name or a file, strict YAML,
  `extends:` (limits on what is read belong here);
- `validation`: the schema check, its errors in words; `errors`: `ScenarioError`;
- `resolve`: `Resolver`, turning keys, placeholders, roles, resources and scopes into ids;
  `ids`: the ids and secrets a scenario derives;
- `loader`: the tenant, then `SECTIONS` (one row a section, in load order) handing each
  section to its loader in `load_directory`, `load_consent`, `load_azure`, `load_cipp`,
  `load_identities`, then the filler objects of `size:`.
"""

from cipp_setup.sandbox.scenario.builtin import list_scenarios
from cipp_setup.sandbox.scenario.errors import ScenarioError
from cipp_setup.sandbox.scenario.ids import (
    derived_secret,
    oauth2_grant_id,
    role_assignment_id,
    role_eligibility_id,
)
from cipp_setup.sandbox.scenario.loader import load_scenario
from cipp_setup.sandbox.scenario.resolve import DAY, FUNCTION_APP_IDENTITY_KEY
from cipp_setup.sandbox.scenario.validation import scenario_schema

__all__ = [
    "DAY",
    "FUNCTION_APP_IDENTITY_KEY",
    "ScenarioError",
    "derived_secret",
    "list_scenarios",
    "load_scenario",
    "oauth2_grant_id",
    "role_assignment_id",
    "role_eligibility_id",
    "scenario_schema",
]
