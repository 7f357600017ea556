"""A dedicated, least-privilege Google service account for GKE nodes.

Nodes only need to write logs and metrics and pull images; the Compute default service account
(Editor on the project) is far more than that. Image pulls are granted per Artifact Registry
repository (``cluster.nodeImageRepositories``), never project-wide: after a VM escape the node's
identity must not read every private image in the project.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from ..settings.cluster import parse_repository

# Project-wide: logging, monitoring and what GKE needs of a node (GKE docs, "Use least
# privilege IAM service accounts": roles/container.defaultNodeServiceAccount).
NODE_ROLES = ("roles/container.defaultNodeServiceAccount",)
# Per repository listed in cluster.nodeImageRepositories.
IMAGE_READER_ROLE = "roles/artifactregistry.reader"


@dataclass(frozen=True)
class NodeIdentity:
    account: gcp.serviceaccount.Account
    # A pool waits for these: nodes that boot before their roles exist cannot log or pull.
    bindings: tuple[pulumi.Resource, ...]


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
    name: str,
    account_id: str,
    project: str,
    parent: pulumi.Resource,
    image_repositories: Sequence[str] = (),
    depends_on: Sequence[pulumi.Resource] = (),
) -> NodeIdentity:
    opts = pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on))
    sa = gcp.serviceaccount.Account(
        f"{name}-sa",
        account_id=account_id,
        display_name=f"GKE nodes ({account_id})",
        project=project,
        opts=opts,
    )
    member = sa.email.apply(lambda email: f"serviceAccount:{email}")
    bindings: list[pulumi.Resource] = [
        gcp.projects.IAMMember(
            f"{name}-sa-{role.split('/')[-1]}",
            project=project,
            role=role,
            member=member,
            opts=opts,
        )
        for role in NODE_ROLES
    ]
    for repo in image_repositories:
        repo_project, location, repository = parse_repository(repo, project)
        bindings.append(
            gcp.artifactregistry.RepositoryIamMember(
                f"{name}-sa-reader-{repo_project}-{location}-{repository}",
                project=repo_project,
                location=location,
                repository=repository,
                role=IMAGE_READER_ROLE,
                member=member,
                opts=opts,
            )
        )
    return NodeIdentity(sa, tuple(bindings))
