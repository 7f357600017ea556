"""A dedicated, least-privilege Google service account for GKE nodes.

Nodes only need to write logs and metrics and pull images; the Compute default service account
(Editor on the project) is far more than that.
"""

from __future__ import annotations

import re

import pulumi
import pulumi_gcp as gcp

NODE_ROLES = (
    "roles/container.defaultNodeServiceAccount",
    "roles/artifactregistry.reader",
)


def node_account_id(cluster_name: str, pool: str) -> str:
    """``<cluster>-<pool>``, shortened to GCP's 6-30 characters. Named after the cluster so two
    stacks sharing a project do not collide, and so the account reads well in IAM."""
    suffix = f"-{pool}"
    base = re.sub(r"[^a-z0-9-]", "-", cluster_name.lower())[: 30 - len(suffix)].strip("-")
    account = f"{base or 'gke'}{suffix}"
    if not account[0].isalpha():
        account = f"n{account}"[:30]
    return account.ljust(6, "0")


def node_service_account(
    name: str, account_id: str, project: str, parent: pulumi.Resource
) -> gcp.serviceaccount.Account:
    opts = pulumi.ResourceOptions(parent=parent)
    sa = gcp.serviceaccount.Account(
        f"{name}-sa",
        account_id=account_id,
        display_name=f"GKE nodes ({account_id})",
        project=project,
        opts=opts,
    )
    for role in NODE_ROLES:
        gcp.projects.IAMMember(
            f"{name}-sa-{role.split('/')[-1]}",
            project=project,
            role=role,
            member=sa.email.apply(lambda email: f"serviceAccount:{email}"),
            opts=opts,
        )
    return sa
