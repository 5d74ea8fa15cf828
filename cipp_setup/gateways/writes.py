"""`TenantWrites` for a signed-in admin: Graph writes and ARM writes behind one object.

Built lazily by the front ends once the admin has said yes to a plan, so the write
permissions are asked for only when a fix is about to be applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cipp_setup.gateways.arm_writes import ArmWrites
from cipp_setup.gateways.current_writes import GraphAppWrites, WebWrites
from cipp_setup.gateways.graph_writes import GraphWrites

if TYPE_CHECKING:
    from cipp_setup.gateways.auth import AdminSession
    from cipp_setup.gateways.retry import RetryPolicy


class Writes:
    """Delegates each `TenantWrites` method to the Graph or the ARM half."""

    def __init__(self, graph: GraphWrites, arm: ArmWrites) -> None:
        self.graph = graph
        self.arm = arm
        # Directory writes go to Graph, Azure RBAC writes to ARM (see TenantWrites).
        self.find_directory_role_assignment = graph.find_directory_role_assignment
        self.create_directory_role_assignment = graph.create_directory_role_assignment
        self.delete_directory_role_assignment = graph.delete_directory_role_assignment
        self.directory_role_assignment_exists = graph.directory_role_assignment_exists
        self.request_role_self_activation = graph.request_role_self_activation
        self.find_service_principal = graph.find_service_principal
        self.create_service_principal = graph.create_service_principal
        self.get_required_resource_access = graph.get_required_resource_access
        self.set_required_resource_access = graph.set_required_resource_access
        self.list_oauth2_permission_grants = graph.list_oauth2_permission_grants
        self.create_oauth2_permission_grant = graph.create_oauth2_permission_grant
        self.update_oauth2_permission_grant_scope = graph.update_oauth2_permission_grant_scope
        self.delete_oauth2_permission_grant = graph.delete_oauth2_permission_grant
        self.create_arm_role_assignment = arm.create_arm_role_assignment
        self.delete_arm_role_assignment = arm.delete_arm_role_assignment
        self.arm_role_assignment_exists = arm.arm_role_assignment_exists
        self.find_arm_role_assignment = arm.find_arm_role_assignment
        # Current generation (CIPP 7.2+): see cipp_setup.engine.writes.CurrentWrites.
        if isinstance(graph, GraphAppWrites):
            self.list_app_role_assignments = graph.list_app_role_assignments
            self.create_app_role_assignment = graph.create_app_role_assignment
            self.get_identifier_uris = graph.get_identifier_uris
            self.set_identifier_uris = graph.set_identifier_uris
            self.add_password = graph.add_password
            self.get_password_expiries = graph.get_password_expiries
            self.password_policy = graph.password_policy
        if isinstance(arm, WebWrites):
            self.get_site_identity = arm.get_site_identity
            self.enable_site_identity = arm.enable_site_identity
            self.get_easy_auth = arm.get_easy_auth
            self.set_easy_auth = arm.set_easy_auth

    @classmethod
    def for_session(cls, session: AdminSession, retry: RetryPolicy | None = None) -> Writes:
        return cls(GraphAppWrites.for_session(session, retry), WebWrites(session.cloud, session.arm_token_credential, retry, scope=session.arm_scope))

    @property
    def request_count(self) -> int:
        return self.graph.request_count + self.arm.request_count

    async def close(self) -> None:
        await self.graph.close()
        await self.arm.close()
