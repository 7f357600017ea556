"""Example: another Pulumi program that uses the platform's components as a library.

It builds ``SandboxPlatform`` from settings written in code (not from stack config) on a local
cluster, then adds resources of its own on the platform's Kubernetes provider: an ``agents``
namespace with an agent runner Deployment that claims sandboxes through the SDK and reaches them
through the platform's router, with exactly the tenant clients' rights in the sandboxes namespace.

Run it from this folder (the repository's virtualenv, see Pulumi.yaml):
    pulumi stack init dev
    pulumi config set context minikube          # a kubeconfig context, never the ambient one
    pulumi config set runnerImage <your agent image>
    pulumi up
"""

import sys
from pathlib import Path

# This example lives inside the repository: make `components` importable when Pulumi runs it
# from this folder. A program of your own would `pip install` the repository instead.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pulumi
import pulumi_kubernetes as k8s

from components import constants as c
from components.composition.platform import SandboxPlatform, SandboxPlatformArgs
from components.composition.tenant import CLIENT_RULES
from components.settings import parse_settings

config = pulumi.Config()
settings = parse_settings(
    {
        "role": "all-in-one",
        "cluster": {"mode": "kubeconfig", "kubeconfig": {"context": config.require("context")}},
        "isolation": {"kata": {"shims": ["qemu"]}},
        "router": {"replicas": 1},
        "gateway": {"enabled": False},  # GKE gateway classes only
        "sandboxes": {
            "templates": [
                {
                    "name": "python",
                    "image": "us-central1-docker.pkg.dev/k8s-staging-images/agent-sandbox/"
                    "python-runtime-sandbox:latest-main",
                    "ports": [{"name": "http", "containerPort": c.SANDBOX_DEFAULT_RUNTIME_PORT}],
                    "resources": {
                        "requests": {"cpu": "250m", "memory": "512Mi"},
                        "limits": {"cpu": "1", "memory": "1Gi"},
                    },
                }
            ],
            "warmPools": [{"name": "python", "template": "python", "replicas": 1}],
        },
    }
)
platform = SandboxPlatform("sandboxes", SandboxPlatformArgs(settings))
assert platform.router is not None and platform.router.auth_token is not None

# --- our own resources, on the platform's provider --------------------------------------------
on_cluster = pulumi.ResourceOptions(provider=platform.cluster.provider)
meta, core, rbac = k8s.meta.v1, k8s.core.v1, k8s.rbac.v1
labels = {"app": "agent-runner"}

agents = core.Namespace("agents", metadata=meta.ObjectMetaArgs(name="agents"), opts=on_cluster)
ns = agents.metadata.apply(lambda m: m.name or "agents")
runner_sa = core.ServiceAccount(
    "agent-runner", metadata=meta.ObjectMetaArgs(name="agent-runner", namespace=ns), opts=on_cluster
)
# The runner may claim and follow sandboxes in the sandboxes namespace, and nothing else.
claims = rbac.Role(
    "agent-runner-claims",
    metadata=meta.ObjectMetaArgs(name="agent-runner", namespace=platform.sandboxes.namespace),
    rules=[
        rbac.PolicyRuleArgs(api_groups=[group], resources=list(res), verbs=list(verbs))
        for group, res, verbs in CLIENT_RULES
    ],
    opts=on_cluster,
)
rbac.RoleBinding(
    "agent-runner-claims",
    metadata=meta.ObjectMetaArgs(name="agent-runner", namespace=platform.sandboxes.namespace),
    role_ref=rbac.RoleRefArgs(api_group=c.RBAC_API_GROUP, kind="Role", name=claims.metadata.name),
    subjects=[rbac.SubjectArgs(kind="ServiceAccount", name="agent-runner", namespace=ns)],
    opts=on_cluster,
)
token = core.Secret(
    "router-token",
    metadata=meta.ObjectMetaArgs(name="router-token", namespace=ns),
    string_data={"token": platform.router.auth_token},
    opts=on_cluster,
)
k8s.apps.v1.Deployment(
    "agent-runner",
    metadata=meta.ObjectMetaArgs(name="agent-runner", namespace=ns, labels=labels),
    spec=k8s.apps.v1.DeploymentSpecArgs(
        replicas=1,
        selector=meta.LabelSelectorArgs(match_labels=labels),
        template=core.PodTemplateSpecArgs(
            metadata=meta.ObjectMetaArgs(labels=labels),
            spec=core.PodSpecArgs(
                service_account_name=runner_sa.metadata.apply(lambda m: m.name or ""),
                security_context=core.PodSecurityContextArgs(
                    run_as_non_root=True,
                    seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
                ),
                containers=[
                    core.ContainerArgs(
                        name="runner",
                        image=config.get("runnerImage") or "python:3.12-slim",
                        env=[
                            # The SDK's direct mode: api_url, and the namespace it claims in.
                            core.EnvVarArgs(name="SANDBOX_ROUTER_URL", value=platform.router.url),
                            core.EnvVarArgs(
                                name="SANDBOX_NAMESPACE", value=platform.sandboxes.namespace
                            ),
                            core.EnvVarArgs(
                                name="SANDBOX_ROUTER_TOKEN",
                                value_from=core.EnvVarSourceArgs(
                                    secret_key_ref=core.SecretKeySelectorArgs(
                                        name=token.metadata.apply(lambda m: m.name or ""),
                                        key="token",
                                    )
                                ),
                            ),
                        ],
                        resources=core.ResourceRequirementsArgs(
                            requests={"cpu": "100m", "memory": "128Mi"},
                            limits={"cpu": "500m", "memory": "256Mi"},
                        ),
                        security_context=core.SecurityContextArgs(
                            allow_privilege_escalation=False,
                            capabilities=core.CapabilitiesArgs(drop=["ALL"]),
                        ),
                    )
                ],
            ),
        ),
    ),
    opts=on_cluster,
)

for key, value in platform.exports.items():
    pulumi.export(key, value)
pulumi.export("agentNamespace", ns)
