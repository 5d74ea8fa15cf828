"""One signed-in admin, from the first check through the fixes to the last re-check.

`fix`, `revert` and the wizard need the same sequence on one event loop and one
sign-in: check → plan → (the front end asks) → apply → re-verify → check again.
`FixSession` holds the session, the read gateways, the check context and the journal,
and builds the write gateway only when the first change is about to be applied — which
is when the write permissions are first asked for (silently, from the same sign-in).

It never prints and never prompts: the front end passes callbacks for "signed in",
results and progress, and decides which plans to apply.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

from cipp_setup import wellknown as wk
from cipp_setup.engine.builtin import builtin_catalogue
from cipp_setup.engine.catalogue import Catalogue
from cipp_setup.engine.context import CheckContext, CheckInputs, SignedInAdmin
from cipp_setup.engine.diagnose import (
    decide_generation,
    decide_profile,
    fixed_generation,
    open_admin_session,
    profile_dependent,
    settle_profile,
)
from cipp_setup.engine.fix_runtime import FixRuntime, Progress, WaitPolicy
from cipp_setup.engine.fixes import apply_plan, plan_fixes
from cipp_setup.engine.journal import Journal, JournalEntry
from cipp_setup.engine.lifecycle import apply_lifecycle, grants_from_journal
from cipp_setup.engine.model import Check, CheckResult, FixableCheck, Profile
from cipp_setup.engine import plan as p
from cipp_setup.engine.plan import FixPlan, PlanOutcome
from cipp_setup.engine.revert import RevertPlan, apply_consent_removal, apply_removal, plan_revert
from cipp_setup.engine.runner import RunReport, run_checks
from cipp_setup.engine.services import AdminSession, ConnectionOptions, ReadGateways
from cipp_setup.engine.signin_consent import ConsentChange, consent_changes, consent_records, journal_consent
from cipp_setup.engine.writes import WRITE_GRAPH_PERMISSIONS, Grant, TenantWrites


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass
class Timing:
    """The clock and sleep every wait goes through; tests move a sandbox clock instead."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = _sleep
    wait: WaitPolicy = field(default_factory=WaitPolicy)


@dataclass
class FixSession:
    inputs: CheckInputs
    connection: ConnectionOptions
    session: AdminSession
    gateways: ReadGateways
    checks: tuple[Check, ...]
    journal: Journal
    timing: Timing = field(default_factory=Timing)
    on_progress: Callable[[Progress], None] | None = None
    writes_factory: Callable[[AdminSession], TenantWrites] | None = None
    # Current generation: shows a client secret a fix created, once (the front end's
    # terminal); None means no secret is created. The re-checks then use the new secret.
    on_new_secret: Callable[[Any], None] | None = None
    # `--write-easy-auth`: the admin opts in to the writes a check leaves to a person by
    # default (`FixableCheck.opted_in`: the Easy Auth plan is applied through ARM instead
    # of explained).
    write_easy_auth: bool = False
    # Why this generation (given, or what auto-detection found).
    generation_evidence: tuple[str, ...] = ()
    # Who writes the API clients, and why; None: unknown (profile-dependent checks are then
    # reported as warnings and never fixed).
    profile: str | None = None
    profile_evidence: tuple[str, ...] = ()
    # The checks a re-check looks ids up in, and whose planners plan (None: built-in).
    catalogue: Catalogue | None = None
    ctx: CheckContext = field(init=False)
    _writes: Any = field(default=None, init=False)
    _write_permissions_obtained: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.ctx = CheckContext(
            inputs=self.inputs, cloud=self.connection.cloud, gateways=self.gateways, admin=self.session.admin
        )

    @classmethod
    async def open(
        cls,
        inputs: CheckInputs,
        connection: ConnectionOptions,
        *,
        journal: Journal,
        timing: Timing | None = None,
        on_signed_in: Callable[[SignedInAdmin], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        only: frozenset[str] | None = None,
        writes_factory: Callable[[AdminSession], TenantWrites] | None = None,
        catalogue: Catalogue | None = None,
    ) -> FixSession:
        """Sign in (SignInRequired / SignInFailed propagate) and wire the read gateways.

        `inputs.generation` None (auto): decided from the tenant's evidence as `check` does
        (`GenerationUndetermined` when it does not tell; the front end names --generation).
        """
        from dataclasses import replace

        known = builtin_catalogue(catalogue)
        fixed, evidence = fixed_generation(inputs, only, known)
        session = await open_admin_session(connection, inputs.tenant)
        if on_signed_in is not None:
            on_signed_in(session.admin)
        gateways = connection.services.read_gateways(
            connection.cloud, session, retry=connection.retry, api_timeout_s=connection.api_timeout_s
        )
        generation = fixed
        ctx = CheckContext(inputs=inputs, cloud=connection.cloud, gateways=gateways, admin=session.admin)
        try:
            if generation is None:
                generation, evidence = await decide_generation(ctx)
            ctx.inputs = inputs = replace(inputs, generation=generation)
            checks = known.for_generation(generation)
            if only is not None:
                checks = tuple(c for c in checks if c.spec.id in only)
            profile: Profile | None = "legacy" if generation == "legacy" else None
            profile_evidence: tuple[str, ...] = ()
            if generation == "current" and any(profile_dependent(c) for c in checks):
                profile, profile_evidence = await decide_profile(ctx, generation)
        except BaseException:
            await gateways.close()
            raise
        if profile is not None:
            checks = tuple(c for c in checks if profile in c.spec.profiles)
        inputs = replace(inputs, profile=profile)
        made = cls(
            inputs=inputs, connection=connection, session=session, gateways=gateways, checks=checks,
            journal=journal, timing=timing or Timing(), on_progress=on_progress,
            writes_factory=writes_factory, catalogue=catalogue,
        )
        made.generation_evidence = tuple(evidence)
        made.profile, made.profile_evidence = profile, tuple(profile_evidence)
        return made

    @property
    def admin(self) -> SignedInAdmin:
        return self.session.admin

    @property
    def tenant_id(self) -> str:
        return self.session.admin.tenant_id

    # ----- checking -----

    async def check(self, on_result: Callable[[CheckResult], None] | None = None) -> RunReport:
        """Run every selected check afresh (nothing remembered from an earlier run)."""
        self._forget()
        self.ctx.results.clear()
        report = await run_checks(self.checks, self.ctx, on_result=on_result)
        if self.profile is None:  # profile-dependent failures: shown, not counted, not fixed
            report, _, _ = settle_profile(report, self.checks, None)
        # Once the API answers, no fix re-grants what only the activation needed.
        return apply_lifecycle(report, self.checks, self.ctx, grants_from_journal(self.journal, self.tenant_id))

    async def verify(self, check_id: str) -> CheckResult:
        """Re-run one check, re-reading everything (its dependencies count as satisfied)."""
        self._forget()
        report = await run_checks([builtin_catalogue(self.catalogue).get(check_id)], self.ctx)
        return report.results[0]

    def _forget(self) -> None:
        """Forget every look-up, and the API token client too: msal keeps an identity
        platform's 400 answer for 60 s (its throttling cache), so after a fix (a new
        identifier URI, a new secret) a re-check must really ask again."""
        self.ctx.forget()
        self.gateways.renew_api_tokens()

    def plans(self, results: Sequence[CheckResult]) -> list[FixPlan]:
        plans = plan_fixes(results, self.ctx, self.catalogue)
        if self.write_easy_auth:
            known = builtin_catalogue(self.catalogue)
            plans = [check.opted_in(plan) if isinstance(check := known.get(plan.check_id), FixableCheck) else plan
                     for plan in plans]
        return plans

    def _new_secret_receiver(self) -> Callable[[Any], None] | None:
        """The front end's receiver, and: the checks that follow use the new secret when
        it belongs to the API client this run checks."""
        show = self.on_new_secret
        if show is None:
            return None

        def receive(new: Any) -> None:
            show(new)
            client = (self.ctx.inputs.api_client_id or "").lower()
            if not client or client == str(new.app_id).lower():
                from dataclasses import replace

                self.ctx.inputs = replace(self.ctx.inputs, api_client_id=client or str(new.app_id),
                                          api_client_secret=new.value)

        return receive

    # ----- applying -----

    def interrupted(self) -> list[JournalEntry]:
        return self.journal.interrupted(self.tenant_id)

    async def settle_interrupted(self) -> tuple[list[JournalEntry], list[JournalEntry]]:
        """Earlier runs' intents without an outcome (killed, interrupted, no answer), read
        back in the tenant (engine/read_back.py): what is found is journaled `applied` (that
        run made it: revert removes it), what is not `failed` with cause `absent`. Returns
        (settled, still open): what could not be read back stays open and is reported."""
        from cipp_setup.engine.journal import APPLIED, FAILED
        from cipp_setup.engine.read_back import CannotReadBack, settled_landed_object
        from cipp_setup.engine.writes import WriteRefused

        settled: list[JournalEntry] = []
        still_open: list[JournalEntry] = []
        for entry in self.interrupted():
            try:
                found = await settled_landed_object(entry, self.runtime())
            except (CannotReadBack, WriteRefused, KeyError):
                still_open.append(entry)
                continue
            if found:
                self.journal.record_outcome(entry.change_id, APPLIED, object_id=found)
            else:
                self.journal.record_outcome(entry.change_id, FAILED, error_cause="absent")
            settled.append(entry)
        return settled, still_open

    def runtime(self) -> FixRuntime:
        """The runtime for applying; builds the write gateway on first use."""
        if self._writes is None:
            if self.writes_factory is not None:
                self._writes = self.writes_factory(self.session)
            else:
                self._writes = self.connection.services.writes(self.session, self.connection.retry)
        return FixRuntime(
            writes=self._writes, journal=self.journal, tenant_id=self.tenant_id, verify=self.verify,
            clock=self.timing.clock, sleep=self.timing.sleep, on_progress=self.on_progress,
            wait=self.timing.wait, on_new_secret=self._new_secret_receiver(),
        )

    async def obtain_write_permissions(self) -> None:
        """The write permissions, once, before the first plan is applied (SignInRequired
        propagates). Injected writes (tests) bring their own.

        Their consent step is a change to the tenant: the tool's client's grants on Graph
        are read before and after it, and what it added is journaled (revertible)."""
        if self.writes_factory is not None or self._write_permissions_obtained:
            return
        services = self.connection.services
        before = await services.read_sign_in_grants(self.session, wk.MICROSOFT_GRAPH_APP_ID)
        await services.obtain_write_permissions(self.session)
        self._write_permissions_obtained = True
        if before is not None:
            after = await self._read_back_grants(WRITE_GRAPH_PERMISSIONS)
            self._journal_consent(consent_changes(before, after or [], WRITE_GRAPH_PERMISSIONS))

    async def record_sign_in_consent(self) -> None:
        """Journal the grant the sign-in's own consent page wrote, read back from Graph.
        Nothing could be read before that sign-in (there was no token yet), so the record
        names the scopes it asked that the grant holds (`before_known` false); a grant
        the journal already covers is not journaled again."""
        asked: tuple[str, ...] = getattr(self.session, "consent_asked", ())
        if not asked or self.writes_factory is not None:
            return
        after = await self._read_back_grants(asked)
        if after is None:
            return
        covered: dict[str, set[str]] = {}
        for entry in consent_records(self.journal.entries(self.tenant_id)):
            covered.setdefault(str(entry.object_id).lower(), set()).update(
                s.lower() for s in entry.target.get("added_scopes", []))
        changes = [c for c in consent_changes(None, after, asked)
                   if not {s.lower() for s in c.added} <= covered.get(c.grant_id.lower(), set())]
        self._journal_consent(changes)

    async def _read_back_grants(self, wanted: Sequence[str]) -> list[Grant] | None:
        """The tool's client's Graph grants, read until they show `wanted` (a just-written
        grant replicates) or the wait policy's attempts are spent."""
        services = self.connection.services
        want = {s.lower() for s in wanted}
        attempt = 1
        while True:
            grants = await services.read_sign_in_grants(self.session, wk.MICROSOFT_GRAPH_APP_ID)
            held = {s.lower() for g in grants or [] for s in g.scopes()}
            if grants is None or want <= held or attempt >= self.timing.wait.attempts:
                return grants
            await self.timing.sleep(self.timing.wait.delay(attempt))
            attempt += 1

    def _journal_consent(self, changes: list[ConsentChange]) -> None:
        if changes:
            journal_consent(self.journal, self.tenant_id, changes, client_app_id=wk.TOOL_PUBLIC_CLIENT_ID,
                            resource_app_id=wk.MICROSOFT_GRAPH_APP_ID)

    async def apply(self, plan: FixPlan) -> PlanOutcome:
        return await apply_plan(plan, self.runtime())

    # ----- reverting -----

    def revert_plan(self, *, include_consent: bool = False) -> tuple[RevertPlan, dict[str, str]]:
        return plan_revert(self.journal, self.tenant_id, include_consent=include_consent)

    async def revert(self, plan: FixPlan, reverts: dict[str, str]) -> PlanOutcome:
        if plan.changes[0].action == p.REMOVE_SIGN_IN_CONSENT:
            return await apply_consent_removal(plan, self.runtime())
        object_id = str(plan.changes[0].params["assignment_id"])
        return await apply_removal(plan, reverts[object_id], self.runtime())

    async def close(self) -> None:
        await self.gateways.close()
        if self._writes is not None and hasattr(self._writes, "close"):
            await self._writes.close()
