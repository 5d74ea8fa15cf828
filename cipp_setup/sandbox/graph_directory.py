"""Graph handlers for people and directory roles: users, me, groups, directoryRoles,
roleManagement/directory (definitions, assignments, PIM schedules and requests)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from . import graph_wire as w
from .graph_base import Call, GraphBase, GraphError404, Reply
from .graph_odata import (
    Filter,
    GraphError,
    bad_request,
    method_not_allowed,
    parse_expand,
    parse_filter,
    parse_select,
    segment_not_found,
)
from .state import DirectoryRoleAssignment, DirectoryRoleEligibility, Group, User

_USER_FILTER = ["id", "userPrincipalName", "displayName", "accountEnabled", "userType", "mail",
                "givenName", "surname", "mailNickname"]
_GROUP_FILTER = ["id", "displayName", "isAssignableToRole", "securityEnabled", "mailEnabled", "mailNickname",
                 "mail"]
_ROLE_FILTER = ["id", "principalId", "roleDefinitionId", "directoryScopeId", "appScopeId"]
_CAST_GROUP = {"microsoft.graph.group", "graph.group"}
_CAST_ROLE = {"microsoft.graph.directoryRole", "graph.directoryRole"}
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
# PIM's default role setting: activations last at most 8 hours and need a justification.
MAX_ACTIVATION_SECONDS = 8 * 3600




def _user_filter_view(u: User) -> dict[str, Any]:
    return {"id": u.id, "userPrincipalName": u.user_principal_name, "displayName": u.display_name,
            "accountEnabled": u.account_enabled, "userType": u.user_type, "mail": u.mail,
            "givenName": u.given_name, "surname": u.surname,
            "mailNickname": u.user_principal_name.split("@")[0]}


class DirectoryHandlers(GraphBase):
    # --- users ---------------------------------------------------------------------------

    def user_by_key(self, key: str) -> User:
        """/users/{id | userPrincipalName}: a UPN is answered from the index, never a scan."""
        user = self.state.user_by_upn(key) if "@" in key else self.state.users.get(key.lower())
        if user is None or not self.visible(user):
            raise GraphError404(key)
        return user

    def handle_users(self, call: Call, rest: list[str]) -> Reply:
        if not rest:
            if call.method != "GET":
                raise method_not_allowed()
            self.authorize(call, "users.read")
            return self._list_users(call)
        if rest[0] == "$count":
            self.authorize(call, "users.read")
            return self._count(call, sum(1 for u in self.state.users.values() if self.visible(u)))
        user = self.user_by_key(rest[0])
        return self._user_paths(call, user, rest[1:], me=False)

    def handle_me(self, call: Call, rest: list[str]) -> Reply:
        if call.caller.kind != "user":
            raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        user = self.user_by_key(call.caller.object_id)
        return self._user_paths(call, user, rest, me=True)

    def _user_paths(self, call: Call, user: User, rest: list[str], me: bool) -> Reply:
        if not rest:
            if call.method != "GET":
                raise method_not_allowed()
            self.authorize(call, "me.read" if me else "users.read")
            select = parse_select(call.query, w.USER_ALL, "user")
            item = w.user_wire(user, self.state) if select else w.user_default(user, self.state)
            return self.entity("users", item, select)
        if rest[0] in ("memberOf", "transitiveMemberOf"):
            if call.method != "GET":
                raise method_not_allowed()
            self.authorize(call, "me.memberOf" if me else "users.memberOf")
            return self._member_of(call, user.id, transitive=rest[0] == "transitiveMemberOf", rest=rest[1:])
        raise segment_not_found(rest[0])

    def _list_users(self, call: Call) -> Reply:
        flt = parse_filter(call.query, _USER_FILTER, "user")
        select = parse_select(call.query, w.USER_ALL, "user")
        candidates = self._user_candidates(flt)

        def items() -> Iterator[dict[str, Any]]:
            for user in candidates:
                if not self.visible(user):
                    continue
                # Match on the few filterable properties first: serialising every user of a
                # large tenant only to drop most of them would dominate a startswith() query.
                if flt is not None and not flt.matches(_user_filter_view(user)):
                    continue
                full = w.user_wire(user, self.state)
                yield full if select else {k: full[k] for k in w.USER_DEFAULT}

        return self.collection(call, "users", items(), select=select)

    def _user_candidates(self, flt: Filter | None) -> Iterator[User] | list[User]:
        eq = flt.equalities() if flt else {}
        if isinstance(eq.get("userPrincipalName"), str):
            user = self.state.user_by_upn(eq["userPrincipalName"])
            return [user] if user else []
        if isinstance(eq.get("id"), str):
            user = self.state.users.get(eq["id"].lower())
            return [user] if user else []
        return iter(list(self.state.users.values()))

    def _member_of(self, call: Call, user_id: str, transitive: bool, rest: list[str]) -> Reply:
        state = self.state
        groups = state.transitive_groups_of(user_id) if transitive else state.direct_groups_of(user_id)
        groups = sorted((g for g in groups if self.visible(g)), key=lambda g: g.display_name.lower())
        holders = [user_id] + ([g.id for g in groups if g.is_assignable_to_role] if transitive else [])
        role_templates = self._roles_held(holders)
        cast = None
        if rest and rest[0] in _CAST_GROUP | _CAST_ROLE:
            cast = "group" if rest[0] in _CAST_GROUP else "directoryRole"
            rest = rest[1:]
        items: list[dict[str, Any]] = []
        if cast in (None, "directoryRole"):
            for template in sorted(role_templates):
                definition = self._definition_by_template(template)
                if definition is not None:
                    wire = w.directory_role_wire(definition, state)
                    items.append(wire if cast else {"@odata.type": "#microsoft.graph.directoryRole", **wire})
        if cast in (None, "group"):
            for g in groups:
                wire = w.group_wire(g, state)
                items.append(wire if cast else {"@odata.type": "#microsoft.graph.group", **wire})
        if rest == ["$count"]:
            return self._count(call, len(items))
        if rest:
            raise segment_not_found(rest[0])
        if cast == "group":
            flt = parse_filter(call.query, _GROUP_FILTER, "group")
            select = parse_select(call.query, w.GROUP_ALL, "group")
            entity_set = "groups"
        elif cast == "directoryRole":
            flt = parse_filter(call.query, ["id", "displayName", "roleTemplateId"], "directoryRole")
            select = parse_select(call.query, w.DIRECTORY_ROLE_ALL, "directoryRole")
            entity_set = "directoryRoles"
        else:
            flt = parse_filter(call.query, _GROUP_FILTER + ["roleTemplateId"], "directoryObject")
            select = parse_select(call.query, set(w.GROUP_ALL) | set(w.DIRECTORY_ROLE_ALL), "directoryObject")
            entity_set = "directoryObjects"
        if flt is not None:
            items = [i for i in items if flt.matches(i)]
        return self.collection(call, entity_set, items, select=select)

    def _roles_held(self, principal_ids: list[str]) -> set[str]:
        now = self.state.clock.now()
        out: set[str] = set()
        for pid in principal_ids:
            for ra in self.state.role_assignments_for(pid):
                if ra.directory_scope_id == "/" and self.visible(ra) and (ra.end_time is None or ra.end_time > now):
                    d = self.state.role_definitions.get(ra.role_definition_id)
                    out.add((d.template_id or d.id) if d else ra.role_definition_id)
        return out

    def _definition_by_template(self, template: str) -> Any:
        d = self.state.role_definitions.get(template)
        if d is not None:
            return d
        return next((x for x in self.state.role_definitions.values() if x.template_id == template), None)

    def _count(self, call: Call, n: int) -> Reply:
        if not call.eventual:
            raise GraphError(400, "Request_BadRequest", "$count is not currently supported.")
        return Reply(200, str(n), {"Content-Type": "text/plain"})

    # --- groups --------------------------------------------------------------------------

    def handle_groups(self, call: Call, rest: list[str]) -> Reply:
        if call.method != "GET":
            raise method_not_allowed()
        self.authorize(call, "groups.read")
        select = parse_select(call.query, w.GROUP_ALL, "group")
        if not rest:
            flt = parse_filter(call.query, _GROUP_FILTER, "group")
            items = (w.group_wire(g, self.state) for g in list(self.state.groups.values()) if self.visible(g))
            if flt is not None:
                items = (i for i in items if flt.matches(i))
            return self.collection(call, "groups", items, select=select)
        group: Group = self.find(self.state.groups, rest[0])
        if len(rest) == 1:
            return self.entity("groups", w.group_wire(group, self.state), select)
        if rest[1] == "members" and len(rest) == 2:
            members = [o for m in group.member_ids if (o := self.directory_object(m)) is not None]
            return self.collection(call, "directoryObjects", members)
        raise segment_not_found(rest[1])

    # --- directoryRoles (activated roles) --------------------------------------------------

    def handle_directory_roles(self, call: Call, rest: list[str]) -> Reply:
        if call.method != "GET":
            raise method_not_allowed()
        self.authorize(call, "directoryRoles.read")
        state = self.state
        from .. import wellknown as wk

        activated = {wk.GLOBAL_ADMINISTRATOR}
        for ra in state.role_assignments.values():
            activated.add(ra.role_definition_id)
        roles = {}
        for template in activated:
            d = self._definition_by_template(template)
            if d is not None:
                wire = w.directory_role_wire(d, state)
                roles[wire["id"]] = (wire, d.template_id or d.id)
        select = parse_select(call.query, w.DIRECTORY_ROLE_ALL, "directoryRole")
        if not rest:
            flt = parse_filter(call.query, ["id", "displayName", "roleTemplateId"], "directoryRole")
            items = [wire for wire, _ in sorted(roles.values(), key=lambda r: r[0]["displayName"])]
            if flt is not None:
                items = [i for i in items if flt.matches(i)]
            return self.collection(call, "directoryRoles", items, select=select)
        key = rest[0]
        m = re.fullmatch(r"roleTemplateId='([^']+)'", key)
        match = next((r for r in roles.values() if (m and r[1] == m.group(1).lower()) or r[0]["id"] == key), None)
        if match is None:
            raise GraphError404(key)
        if len(rest) == 1:
            return self.entity("directoryRoles", match[0], select)
        if rest[1] == "members" and len(rest) == 2:
            now = state.clock.now()
            members = []
            for ra in state.role_assignments.values():
                if ((state.role_definitions.get(ra.role_definition_id) is not None
                     and (state.role_definitions[ra.role_definition_id].template_id
                          or ra.role_definition_id) == match[1])
                        and ra.directory_scope_id == "/" and self.visible(ra)
                        and (ra.end_time is None or ra.end_time > now)):
                    obj = self.directory_object(ra.principal_id)
                    if obj is not None:
                        members.append(obj)
            return self.collection(call, "directoryObjects", members)
        raise segment_not_found(rest[1])

    # --- roleManagement/directory ----------------------------------------------------------

    def handle_role_management(self, call: Call, rest: list[str]) -> Reply:
        if len(rest) < 2 or rest[0] != "directory":
            raise segment_not_found(rest[0] if rest else "roleManagement")
        collection, tail = rest[1], rest[2:]
        if collection == "roleDefinitions":
            return self._role_definitions(call, tail)
        if collection == "roleAssignments":
            return self._role_assignments(call, tail)
        if collection in ("roleEligibilityScheduleInstances", "roleEligibilitySchedules"):
            return self._eligibilities(call, collection, tail)
        if collection in ("roleAssignmentScheduleInstances", "roleAssignmentSchedules"):
            return self._assignment_instances(call, collection, tail)
        if collection == "roleAssignmentScheduleRequests":
            return self._schedule_request(call, tail)
        raise segment_not_found(collection)

    def _role_definitions(self, call: Call, tail: list[str]) -> Reply:
        if call.method != "GET":
            raise method_not_allowed()
        self.authorize(call, "roleDefinitions.read")
        select = parse_select(call.query, w.ROLE_DEFINITION_ALL, "unifiedRoleDefinition")
        entity_set = "roleManagement/directory/roleDefinitions"
        if not tail:
            flt = parse_filter(call.query, ["id", "displayName", "templateId", "isBuiltIn"], "unifiedRoleDefinition")
            items = [w.role_definition_wire(d, self.state) for d in self.state.role_definitions.values()]
            if flt is not None:
                items = [i for i in items if flt.matches(i)]
            return self.collection(call, entity_set, items, select=select, directory_objects=False)
        definition = self.state.role_definitions.get(tail[0]) or self._definition_by_template(tail[0])
        if definition is None:
            raise GraphError404(tail[0])
        if len(tail) > 1:
            raise segment_not_found(tail[1])
        return self.entity(entity_set, w.role_definition_wire(definition, self.state), select)

    def assignment_active(self, ra: DirectoryRoleAssignment) -> bool:
        return self.visible(ra) and (ra.end_time is None or ra.end_time > self.state.clock.now())

    def _assignment_wire(self, ra: DirectoryRoleAssignment, expand: list[str]) -> dict[str, Any]:
        item = w.role_assignment_wire(ra, self.state)
        if "principal" in expand:
            item["principal"] = self.directory_object(ra.principal_id)
        if "roleDefinition" in expand:
            d = self.state.role_definitions.get(ra.role_definition_id) or self._definition_by_template(
                ra.role_definition_id)
            item["roleDefinition"] = w.role_definition_wire(d, self.state) if d else None
        return item

    def _role_assignments(self, call: Call, tail: list[str]) -> Reply:
        entity_set = "roleManagement/directory/roleAssignments"
        expand = parse_expand(call.query, ["principal", "roleDefinition", "directoryScope", "appScope"],
                              "unifiedRoleAssignment")
        select = parse_select(call.query, w.ROLE_ASSIGNMENT_ALL, "unifiedRoleAssignment")
        if not tail:
            if call.method == "POST":
                return self._create_role_assignment(call)
            if call.method != "GET":
                raise method_not_allowed()
            self.authorize(call, "roleAssignments.read")
            flt = parse_filter(call.query, _ROLE_FILTER, "unifiedRoleAssignment")
            items = (self._assignment_wire(ra, expand) for ra in self._assignment_candidates(flt)
                     if self.assignment_active(ra))
            if flt is not None:
                items = (i for i in items if flt.matches(i))
            return self.collection(call, entity_set, items, select=select, expand=expand, directory_objects=False)
        if len(tail) > 1:
            raise segment_not_found(tail[1])
        ra = self.state.role_assignments.get(tail[0])
        if ra is None or not self.assignment_active(ra):
            raise GraphError404(tail[0])
        if call.method == "GET":
            self.authorize(call, "roleAssignments.read")
            return self.entity(entity_set, self._assignment_wire(ra, expand), select, expand)
        if call.method == "DELETE":
            self.authorize(call, "roleAssignments.write")
            self.state.remove_role_assignment(ra.id)
            return Reply(204)
        raise method_not_allowed()

    def _assignment_candidates(self, flt: Filter | None) -> list[DirectoryRoleAssignment]:
        eq = flt.equalities() if flt else {}
        if isinstance(eq.get("principalId"), str):
            return self.state.role_assignments_for(eq["principalId"])
        if isinstance(eq.get("principalId"), tuple):  # principalId in (...): answer from the index
            return [ra for pid in eq["principalId"] for ra in self.state.role_assignments_for(str(pid))]
        if isinstance(eq.get("id"), str):
            ra = self.state.role_assignments.get(eq["id"])
            return [ra] if ra else []
        return list(self.state.role_assignments.values())

    def _create_role_assignment(self, call: Call) -> Reply:
        self.authorize(call, "roleAssignments.write")
        body = call.body()
        principal_id = str(body.get("principalId") or "").lower()
        definition_id = str(body.get("roleDefinitionId") or "").lower()
        scope = str(body.get("directoryScopeId") or "/")
        if not principal_id or not definition_id:
            raise bad_request("Invalid request: principalId and roleDefinitionId are required.")
        definition = self.state.role_definitions.get(definition_id) or self._definition_by_template(definition_id)
        if definition is None:
            raise GraphError404(definition_id)
        principal = self.directory_object(principal_id)
        if principal is None:
            raise GraphError404(principal_id)
        group = self.state.groups.get(principal_id)
        if group is not None and not group.is_assignable_to_role:
            raise bad_request("The group is not role-assignable; only groups created with "
                              "isAssignableToRole set to true can be assigned a role.")
        for existing in self.state.role_assignments_for(principal_id):
            if (existing.role_definition_id == definition_id and existing.directory_scope_id == scope
                    and (existing.end_time is None or existing.end_time > self.state.clock.now())):
                raise bad_request("A conflicting object with one or more of the specified property values "
                                  "is present in the directory.")
        ra = DirectoryRoleAssignment(
            id=w.role_assignment_id(definition_id, principal_id, scope),
            principal_id=principal_id,
            role_definition_id=definition_id,
            directory_scope_id=scope,
            created_by_api=True,
            visibility=self.state.new_visibility(),
        )
        self.state.add_role_assignment(ra)
        item = w.role_assignment_wire(ra, self.state)
        item["principalOrganizationId"] = self.state.tenant_id
        # Created directory objects come back with their canonical address, as Graph writes it.
        item = {"@odata.id": f"{self.urls.graph}/v2/{self.state.tenant_id}/roleAssignments/{ra.id}", **item}
        return self.entity("roleManagement/directory/roleAssignments", item, status=201)

    # --- PIM ---------------------------------------------------------------------------

    def _pim_target(self, call: Call, tail: list[str]) -> tuple[str | None, list[str]]:
        """filterByCurrentUser(on='principal') narrows to the signed-in user."""
        if tail and tail[0].startswith("filterByCurrentUser"):
            if call.caller.kind != "user":
                raise GraphError(400, "BadRequest", "filterByCurrentUser is only valid with delegated authentication.")
            return call.caller.object_id, tail[1:]
        return None, tail

    def _eligibilities(self, call: Call, collection: str, tail: list[str]) -> Reply:
        if call.method != "GET":
            raise method_not_allowed()
        self.authorize(call, "roleEligibility.read")
        only, tail = self._pim_target(call, tail)
        schedules = collection == "roleEligibilitySchedules"
        wire = w.eligibility_schedule_wire if schedules else w.eligibility_instance_wire
        known = w.ELIGIBILITY_SCHEDULE_ALL if schedules else w.ELIGIBILITY_INSTANCE_ALL
        select = parse_select(call.query, known, "unifiedRoleEligibilitySchedule")
        entity_set = f"roleManagement/directory/{collection}"
        now = self.state.clock.now()
        current = [e for e in self.state.role_eligibilities.values()
                   if (e.end_time is None or e.end_time > now) and (only is None or e.principal_id == only)]
        if tail:
            match = next((e for e in current if e.id == tail[0]), None)
            if match is None:
                raise GraphError404(tail[0])
            return self.entity(entity_set, wire(match, self.state), select)
        flt = parse_filter(call.query, _ROLE_FILTER + ["memberType"], "unifiedRoleEligibilitySchedule")
        # Served by the PIM service: principalId and roleDefinitionId support eq and ne only
        # (unifiedRoleEligibilityScheduleInstance resource page); no `in` rewrite here.
        for clause in flt.comparisons() if flt else []:
            if clause.op not in ("eq", "ne"):
                raise GraphError(400, "BadRequest",
                                 f"Invalid filter clause: The operator '{clause.op}' is not supported "
                                 f"for the property '{clause.prop}'.")
        items = [wire(e, self.state) for e in current]
        if flt is not None:
            items = [i for i in items if flt.matches(i)]
        context = None
        if only is not None:
            kind = "unifiedRoleEligibilitySchedule" if schedules else "unifiedRoleEligibilityScheduleInstance"
            context = f"{self.urls.graph}/v1.0/$metadata#Collection({kind})"
        return self.collection(call, entity_set, items, select=select, directory_objects=False, context=context)

    def _assignment_instances(self, call: Call, collection: str, tail: list[str]) -> Reply:
        if call.method != "GET":
            raise method_not_allowed()
        self.authorize(call, "roleAssignmentSchedules.read")
        only, tail = self._pim_target(call, tail)
        select = parse_select(call.query, w.ASSIGNMENT_INSTANCE_ALL, "unifiedRoleAssignmentScheduleInstance")
        entity_set = f"roleManagement/directory/{collection}"
        flt = parse_filter(call.query, _ROLE_FILTER + ["assignmentType", "memberType"],
                           "unifiedRoleAssignmentScheduleInstance")
        eq = flt.equalities() if flt else {}
        principal = only or (eq.get("principalId") if isinstance(eq.get("principalId"), str) else None)
        source = (self.state.role_assignments_for(principal) if principal
                  else list(self.state.role_assignments.values()))
        items = [w.assignment_instance_wire(ra, self.state) for ra in source if self.assignment_active(ra)]
        if tail:
            match = next((i for i in items if i["id"] == tail[0]), None)
            if match is None:
                raise GraphError404(tail[0])
            return self.entity(entity_set, match, select)
        if flt is not None:
            items = [i for i in items if flt.matches(i)]
        return self.collection(call, entity_set, items, select=select, directory_objects=False)

    def _schedule_request(self, call: Call, tail: list[str]) -> Reply:
        if tail:
            raise segment_not_found(tail[0])
        if call.method != "POST":
            raise method_not_allowed()
        body = call.body()
        action = str(body.get("action") or "")
        principal_id = str(body.get("principalId") or "").lower()
        definition_id = str(body.get("roleDefinitionId") or "").lower()
        scope = str(body.get("directoryScopeId") or "/")
        justification = body.get("justification")
        schedule = body.get("scheduleInfo") or {}
        now = self.state.clock.now()
        lowered = action.lower()
        if lowered in ("selfactivate", "selfdeactivate"):
            self.authorize(call, "roleAssignmentScheduleRequests.self")
            if call.caller.kind != "user" or principal_id != call.caller.object_id.lower():
                raise GraphError(403, "Authorization_RequestDenied",
                                 "Insufficient privileges to complete the operation.")
        elif lowered in ("adminassign", "adminremove"):
            self.authorize(call, "roleAssignmentScheduleRequests.admin")
        else:
            raise bad_request(f"The action '{action}' is not supported.", "InvalidRequest")
        if self.directory_object(principal_id) is None:
            raise GraphError404(principal_id)
        if self.state.role_definitions.get(definition_id) is None and self._definition_by_template(definition_id) is None:
            raise GraphError404(definition_id)
        active = [ra for ra in self.state.role_assignments_for(principal_id)
                  if ra.role_definition_id == definition_id and ra.directory_scope_id == scope
                  and self.assignment_active(ra)]
        start = now
        if isinstance(schedule.get("startDateTime"), str):
            start = max(now, w.parse_iso(schedule["startDateTime"]))
        end = self._schedule_end(schedule, start, lowered)
        target_id = ""
        if lowered == "selfactivate":
            eligibility = self._matching_eligibility(principal_id, definition_id, scope, now)
            failed = []
            if eligibility is None:
                failed.append("EligibilityRule")
            if not justification:
                failed.append("JustificationRule")
            if end is None or end - start > MAX_ACTIVATION_SECONDS:
                failed.append("ExpirationRule")
            if failed:
                raise GraphError(400, "RoleAssignmentRequestPolicyValidationFailed",
                                 "The following policy rules failed: [" + ",".join(f'"{r}"' for r in failed) + "]")
            if active:
                raise GraphError(400, "RoleAssignmentExists", "The Role assignment already exists.")
            assert eligibility is not None
            ra = DirectoryRoleAssignment(
                id=w.role_assignment_id(definition_id, principal_id, scope),
                principal_id=principal_id, role_definition_id=definition_id, directory_scope_id=scope,
                activated_from_eligibility_id=eligibility.id, start_time=start, end_time=end,
                created_by_api=True, visibility=self.state.new_visibility())
            self.state.add_role_assignment(ra)
            target_id = ra.id
        elif lowered == "adminassign":
            if not justification:
                raise GraphError(400, "RoleAssignmentRequestPolicyValidationFailed",
                                 'The following policy rules failed: ["JustificationRule"]')
            if active:
                raise GraphError(400, "RoleAssignmentExists", "The Role assignment already exists.")
            ra = DirectoryRoleAssignment(
                id=w.role_assignment_id(definition_id, principal_id, scope),
                principal_id=principal_id, role_definition_id=definition_id, directory_scope_id=scope,
                end_time=end, start_time=start if end else None,
                created_by_api=True, visibility=self.state.new_visibility())
            self.state.add_role_assignment(ra)
            target_id = ra.id
        else:  # selfDeactivate / adminRemove
            if not active:
                raise GraphError(400, "RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
            for ra in active:
                if lowered == "selfdeactivate" and ra.activated_from_eligibility_id is None:
                    raise GraphError(400, "RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
                self.state.remove_role_assignment(ra.id)
                target_id = ra.id
        request_id = w.b64url(w.guid_bytes(definition_id) + w.guid_bytes(principal_id))
        duration = ((schedule.get("expiration") or {}).get("duration")) if isinstance(schedule, dict) else None
        exp_type = (schedule.get("expiration") or {}).get("type") if isinstance(schedule, dict) else None
        item = {
            "id": request_id,
            "status": "Provisioned" if lowered in ("selfactivate", "adminassign") else "Revoked",
            "createdDateTime": w.iso(now),
            "completedDateTime": w.iso(now),
            "approvalId": None,
            "customData": None,
            "action": action,
            "principalId": principal_id,
            "roleDefinitionId": definition_id,
            "directoryScopeId": scope,
            "appScopeId": None,
            "isValidationOnly": bool(body.get("isValidationOnly", False)),
            "targetScheduleId": target_id,
            "justification": justification,
            "createdBy": {"application": None, "device": None, "user": {
                "displayName": None, "id": call.caller.object_id} if call.caller.kind == "user" else None},
            "scheduleInfo": {
                "startDateTime": w.iso(start),
                "recurrence": None,
                "expiration": {"type": exp_type or ("noExpiration" if end is None else "afterDateTime"),
                               "endDateTime": w.iso(end) if exp_type == "afterDateTime" else None,
                               "duration": duration},
            },
            "ticketInfo": {"ticketNumber": None, "ticketSystem": None},
        }
        return self.entity("roleManagement/directory/roleAssignmentScheduleRequests", item, status=201)

    def _matching_eligibility(self, principal_id: str, definition_id: str, scope: str,
                              now: float) -> DirectoryRoleEligibility | None:
        for e in self.state.role_eligibilities.values():
            if (e.principal_id == principal_id and e.role_definition_id == definition_id
                    and e.directory_scope_id == scope and e.start_time <= now
                    and (e.end_time is None or e.end_time > now)):
                return e
        return None

    @staticmethod
    def _schedule_end(schedule: Any, start: float, action: str) -> float | None:
        expiration = (schedule or {}).get("expiration") or {}
        kind = str(expiration.get("type") or "").lower()
        if kind == "afterduration" or expiration.get("duration"):
            duration = str(expiration.get("duration") or "")
            m = _DURATION.match(duration)
            if not m or not any(m.groups()):
                raise bad_request(f"The duration '{duration}' is not a valid ISO 8601 duration.", "InvalidRequest")
            days, hours, minutes, seconds = (int(x or 0) for x in m.groups())
            return start + days * 86400 + hours * 3600 + minutes * 60 + seconds
        if kind == "afterdatetime" and isinstance(expiration.get("endDateTime"), str):
            return w.parse_iso(expiration["endDateTime"])
        if action == "selfactivate":
            # Without an expiration PIM applies the role setting's maximum.
            return start + MAX_ACTIVATION_SECONDS
        return None
