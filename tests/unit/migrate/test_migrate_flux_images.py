"""Flux's image automation -> gitmoor's, field by field."""

from __future__ import annotations

from tests.unit.migrate.cases import Case, Item, run

REPO = "ImageRepository/flux-system/web"
POLICY = "ImagePolicy/flux-system/web"
AUTO = "ImageUpdateAutomation/flux-system/fleet"


def test_the_three_image_kinds_carry_over() -> None:
    run(
        Case(
            """
            apiVersion: image.toolkit.fluxcd.io/v1beta2
            kind: ImageRepository
            metadata: {name: web, namespace: flux-system}
            spec:
              image: ghcr.io/org/web
              interval: 5m0s
              secretRef: {name: ghcr}
              exclusionList: ['^.*\\.sig$', '^dev-']
              provider: aws
            ---
            apiVersion: image.toolkit.fluxcd.io/v1beta2
            kind: ImagePolicy
            metadata: {name: web, namespace: flux-system}
            spec:
              imageRepositoryRef: {name: web}
              filterTags: {pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)', extract: '$ts'}
              policy: {numerical: {order: asc}}
            ---
            apiVersion: image.toolkit.fluxcd.io/v1beta2
            kind: ImageUpdateAutomation
            metadata: {name: fleet, namespace: flux-system}
            spec:
              interval: 30m
              sourceRef: {kind: GitRepository, name: fleet}
              git:
                checkout: {ref: {branch: main}}
                commit:
                  author: {name: fluxcdbot, email: fluxcdbot@users.noreply.github.com}
                  messageTemplate: '{{range .Changed.Changes}}{{print .OldValue}}{{end}}'
                  signingKey: {secretRef: {name: signing}}
                push: {branch: image-updates, refspec: 'refs/heads/x:refs/heads/y'}
              update: {path: ./clusters/prod, strategy: Setters}
              policySelector: {matchLabels: {team: web}}
            """,
            """
            apiVersion: gitmoor.io/v1alpha1
            kind: ImageUpdateAutomation
            metadata: {name: fleet, namespace: flux-system}
            spec:
              sourceRef: {name: fleet}
              interval: 30m
              git:
                commit:
                  author: {name: fluxcdbot, email: fluxcdbot@users.noreply.github.com}
                  messageTemplate: '{{range .Changed.Changes}}{{print .OldValue}}{{end}}'
                  signingKey: {secretRef: {name: signing}}
                checkout: {ref: {branch: main}}
                push: {branch: image-updates}
              update: {path: ./clusters/prod, strategy: Setters}
            ---
            apiVersion: gitmoor.io/v1alpha1
            kind: ImageRepository
            metadata: {name: web, namespace: flux-system}
            spec:
              image: ghcr.io/org/web
              interval: 5m
              secretRef: {name: ghcr}
              exclusionList: ['^.*\\.sig$', '^dev-']
            ---
            apiVersion: gitmoor.io/v1alpha1
            kind: ImagePolicy
            metadata: {name: web, namespace: flux-system}
            spec:
              imageRepositoryRef: {name: web}
              policy: {numerical: {order: asc}}
              filterTags: {pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)', extract: '$ts'}
            """,
            [
                Item(REPO, "spec.provider", "not a cloud provider's identity"),
                Item(POLICY, "spec.policy.numerical", "ignores values that are not", check=True),
                Item(AUTO, "spec.git.push.refspec", "one branch"),
                Item(AUTO, "spec.git.commit.messageTemplate", "Go template", check=True),
                Item(AUTO, "spec.git.commit.signingKey", "git.asc", check=True),
                Item(AUTO, "spec.policySelector", "every policy its markers name"),
            ],
        )
    )
