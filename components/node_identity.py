"""A dedicated, least-privilege Google service account for GKE nodes.

Nodes only need to write logs and metrics and pull images; the Compute default service account
(Editor on the project) is far more than that.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

NODE_ROLES = (
    "roles/container.defaultNodeServiceAccount",
    "roles/artifactregistry.reader",
)


def node_service_account(
    name: str, project: str, parent: pulumi.Resource
) -> gcp.serviceaccount.Account:
    # account_id: 6-30 chars; derive a stable one from the logical name.
    account_id = name.lower().replace("_", "-")[-24:].strip("-") + "-nodes"
    sa = gcp.serviceaccount.Account(
        f"{name}-sa",
        account_id=account_id[:30].strip("-"),
        display_name=f"GKE nodes ({name})",
        project=project,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    for role in NODE_ROLES:
        gcp.projects.IAMMember(
            f"{name}-sa-{role.split('/')[-1]}",
            project=project,
            role=role,
            member=sa.email.apply(lambda email: f"serviceAccount:{email}"),
            opts=pulumi.ResourceOptions(parent=parent),
        )
    return sa
