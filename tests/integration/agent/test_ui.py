"""The web UI in a real browser (Debian's headless Chromium, driven by Playwright without a
browser download) against a real agent, control plane and Git server.

One agent serves both tests (module-scoped set-up would need a module event loop; the journey
is one test instead, the refusals a second one on the same kind of set-up kept small):
- an operator (may `patch` syncs) signs in with a token, sees the overview, opens the Sync, sees
  a drifted field's diff, presses "Sync now" and sees the new revision arrive over the live
  stream, rolls back to the earlier record (after a diff) and sees the rollback in the
  timeline; the environments page shows what runs where.
- a viewer (may only `get` syncs) sees no action button and is refused (403) by the API; a
  forged action (no CSRF token, or a foreign Origin) is refused (403) even with a real session.

Screenshots at 1280 and 390 pixels wide land in `.artifacts/ui/` under the repository.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from gitmoor.kube import Kube
from gitmoor.model.resources import API_VERSION
from gitmoor.reconcile import conditions as cond
from gitmoor.server.ui.local import serve_local
from testenv.gitserver import GitServers, Worktree
from tests.integration.agent.harness import AgentHarness
from tests.integration.agent.manifests import configmap, deployment

pytestmark = [pytest.mark.cluster, pytest.mark.gitserver]

ARTIFACTS = Path(__file__).resolve().parents[3] / ".artifacts" / "ui"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RBAC = "rbac.authorization.k8s.io/v1"
TESTS = "gitmoor-tests"
WIDE, PHONE = 1280, 390


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    # `launch` starts Chromium on a fresh temporary profile of its own, and every page below
    # gets a fresh context (cookie jar): the operator and the viewer never share a session.
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        try:
            yield instance
        finally:
            await instance.close()


async def _token(kube: Kube, namespace: str, name: str, verbs: list[str]) -> str:
    """A ServiceAccount allowed `verbs` on syncs (and to read GitSources) in `namespace`."""
    for doc in (
        {"apiVersion": "v1", "kind": "ServiceAccount"},
        {
            "apiVersion": RBAC,
            "kind": "Role",
            "rules": [{"apiGroups": ["gitmoor.io"], "resources": ["syncs"], "verbs": verbs}],
        },
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ):
        await kube.apply(
            {**doc, "metadata": {"name": name, "namespace": namespace}}, field_manager=TESTS
        )
    answer = await kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    return str(answer["status"]["token"])


@dataclass
class App:
    harness: AgentHarness
    tree: Worktree
    shas: list[str]
    operator: str
    viewer: str

    @property
    def url(self) -> str:
        return f"{self.harness.http_url}/ui/"


@pytest.fixture
async def app(harness: AgentHarness, kube: Kube, git_servers: GitServers, unique_name: str) -> App:
    h, ns = harness, harness.namespace
    await h.stop()
    await h.start(http=True)
    repo, tree = h.repo(git_servers, unique_name)
    sha = tree.commit(
        "Blue settings and web 1.27",
        {
            "cm.yaml": configmap("settings", ns, mode="blue"),
            "web.yaml": deployment("web", ns, image="nginx:1.27"),
        },
    )
    tree.push()
    # Nothing moves by itself: new commits arrive when someone presses "Sync now".
    await h.source("repo", repo.file_url, interval="1h")
    await h.sync("app", "repo", interval="1h", drift="report")
    await h.wait_applied("app", sha)
    operator = await _token(kube, ns, "operator", ["get", "list", "watch", "patch"])
    viewer = await _token(kube, ns, "viewer", ["get", "list", "watch"])
    return App(h, tree, [sha], operator, viewer)


async def _sign_in(browser: Browser, app: App, token: str, width: int = WIDE) -> Page:
    page = await browser.new_page(viewport={"width": width, "height": 900})
    await page.goto(app.url)
    await page.fill("#token", token)
    await page.click("form button[type=submit]")
    await expect(page.locator("#live")).to_have_text("live")
    return page


async def _shots(page: Page, name: str, *, dark: bool = False) -> None:
    """Screenshots at both widths (and, with `dark`, the wide one in dark mode too)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in (WIDE, PHONE):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    await page.set_viewport_size({"width": WIDE, "height": 900})
    if dark:
        await page.emulate_media(color_scheme="dark")
        await page.screenshot(path=str(ARTIFACTS / f"{name}-dark-{WIDE}.png"), full_page=True)
        await page.emulate_media(color_scheme="light")


async def test_an_operator_sees_drift_syncs_live_and_rolls_back(app: App, browser: Browser) -> None:
    h, ns = app.harness, app.harness.namespace
    page = await _sign_in(browser, app, app.operator)

    # The overview: the Sync, Ready at the first commit, with its subject.
    row = page.locator(f'#syncs tr[data-key="{ns}/app"]')
    await expect(row).to_contain_text(app.shas[0][:12])
    await expect(row).to_contain_text("Blue settings and web 1.27")
    await expect(row.locator(".badge.ready")).to_be_visible()
    await expect(page.locator(f'#sources tr[data-key="{ns}/repo"]')).to_be_visible()
    await _shots(page, "overview", dark=True)

    # Someone edits a managed object: the Sync (drift: report) says so, field by field, and the
    # overview shows it without a reload.
    await h.kube.patch_merge("v1", "ConfigMap", "settings", ns, {"data": {"mode": "red"}})
    await h.wait_for("Sync", "app", lambda o: cond.is_true(o, "Drifted"), what="drift reported")
    await expect(row.locator(".badge.drifted")).to_be_visible()
    await page.click(f'#syncs tr[data-key="{ns}/app"] a')
    diff = page.locator("#drift table.diff tr", has_text="data.mode")
    await expect(diff.locator("td.git")).to_have_text("blue")
    await expect(diff.locator("td.live")).to_have_text("red")
    await expect(page.locator('#tree li[data-object$="/settings"]')).to_be_visible()
    await expect(page.locator('#tree li[data-object$="/web"] .badge')).to_have_text("Current")
    await _shots(page, "sync", dark=True)

    # A new commit, and "Sync now": the new revision arrives over the live stream.
    app.shas.append(
        app.tree.commit("Web 1.28", {"web.yaml": deployment("web", ns, image="nginx:1.28")})
    )
    app.tree.push()
    # By keyboard: Tab from the top of the page reaches the button, Enter presses it.
    await page.locator("#main").focus()
    for _ in range(20):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.dataset.action") == "sync":
            break
    else:
        pytest.fail("Tab never reached the Sync now button")
    await page.keyboard.press("Enter")
    await expect(page.locator("#applied-revision")).to_contain_text(
        app.shas[1][:12], timeout=90_000
    )
    await expect(
        page.locator("#timeline li[data-result=applied]", has_text=app.shas[1][:12])
    ).to_be_visible()

    # Roll back to the first commit: the confirmation shows what changes, then the timeline
    # shows the rollback.
    first = page.locator("#timeline li", has_text=app.shas[0][:12]).first
    await first.locator("button[data-rollback]").click()
    dialog = page.locator("#confirm")
    await expect(dialog).to_contain_text("nginx:1.28")  # removed
    await expect(dialog).to_contain_text("nginx:1.27")  # added back
    await expect(dialog).not_to_contain_text("null")
    await _shots(page, "rollback-confirm")
    await page.click("#confirm-ok")
    rolled = page.locator("#timeline li", has=page.locator(".badge.trigger", has_text="rollback"))
    await expect(rolled.first).to_contain_text(app.shas[0][:12], timeout=90_000)
    await expect(page.locator("#applied-revision")).to_contain_text(app.shas[0][:12])
    await expect(page.locator(".badge.pinned").first).to_be_visible()
    # Now the first commit's content runs: only the second's attempt offers a way back.
    await expect(page.locator("#timeline button[data-rollback]")).to_have_count(1)
    await expect(
        page.locator("#timeline li", has=page.locator("button[data-rollback]"))
    ).to_contain_text(app.shas[1][:12])
    await _shots(page, "timeline")

    # What runs where, and the DORA charts.
    await page.click("#nav-environments")
    await expect(page.locator("#matrix")).to_contain_text(app.shas[0][:12])
    await expect(page.locator("figure.chart svg").first).to_be_visible()
    await _shots(page, "environments")


async def test_a_viewer_has_no_actions_and_forged_actions_are_refused(
    app: App, browser: Browser
) -> None:
    ns = app.harness.namespace
    sync_url = f"{app.url}#/sync/{ns}/app"
    viewer = await _sign_in(browser, app, app.viewer, PHONE)
    await viewer.goto(sync_url)
    await expect(viewer.locator("#no-actions")).to_be_visible()
    await expect(viewer.locator("#actions button")).to_have_count(0)
    await viewer.screenshot(path=str(_artifact("sync-viewer-390.png")), full_page=True)

    # The viewer's own session, with a valid CSRF token, from the page: `patch` is refused.
    status = await _post_from_page(viewer, f"api/syncs/{ns}/app/sync", csrf=True)
    assert status == 403

    operator = await _sign_in(browser, app, app.operator)
    await operator.goto(sync_url)
    await expect(operator.locator("#actions button[data-action=sync]")).to_be_visible()
    # The operator's session without the CSRF token: refused.
    assert await _post_from_page(operator, f"api/syncs/{ns}/app/suspend", csrf=False) == 403
    # The same session's cookie and token sent from another origin: refused.
    cookies = {c["name"]: c["value"] for c in await operator.context.cookies()}
    csrf = await operator.evaluate("S.csrf")
    base = app.harness.http_url
    async with aiohttp.ClientSession(cookies=cookies) as http:
        for origin in ("http://evil.example", None):
            headers = {"X-Gitmoor-CSRF": csrf, "Content-Type": "application/json"}
            if origin:
                headers["Origin"] = origin
            async with http.post(
                f"{base}/ui/api/syncs/{ns}/app/suspend", headers=headers, data="{}"
            ) as response:
                assert response.status == 403, origin
                assert "forged" in (await response.json())["message"] or origin
        # With the UI's own Origin it goes through: the refusals above were for the forgery.
        headers = {"X-Gitmoor-CSRF": csrf, "Content-Type": "application/json", "Origin": base}
        async with http.post(
            f"{base}/ui/api/syncs/{ns}/app/suspend", headers=headers, data="{}"
        ) as response:
            assert response.status == 200, await response.text()
        # Security headers on the page and the API.
        async with http.get(f"{base}/ui/") as response:
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
            assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    await app.harness.wait_for(
        "Sync", "app", lambda o: bool(o["spec"].get("suspend")), what="the Sync suspended"
    )
    # No token at all: the API answers 401, and says nothing of the Sync.
    async with aiohttp.ClientSession() as http, http.get(f"{base}/ui/api/overview") as response:
        assert response.status == 401
        assert "app" not in await response.text()


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


async def _post_from_page(page: Page, path: str, *, csrf: bool) -> Any:
    """A POST made by the page's own script (its cookie rides along), with or without the
    CSRF header; returns the status."""
    return await page.evaluate(
        """async ([path, csrf]) => {
            const headers = {"Content-Type": "application/json"};
            if (csrf) headers["X-Gitmoor-CSRF"] = S.csrf;
            const r = await fetch(path, {method: "POST", headers, body: "{}"});
            return r.status;
        }""",
        [path, csrf],
    )


async def test_gitmoor_ui_on_a_laptop_serves_the_kubeconfigs_own_view(
    browser: Browser, kube: Kube, namespace: str, crds: None
) -> None:
    """`gitmoor ui`: no agent needed, the person's own credentials; the printed URL's key signs
    the browser in, and without it the API refuses."""
    for kind, spec in (
        ("GitSource", {"url": "https://git.example/app.git", "interval": "1h"}),
        ("Sync", {"sourceRef": {"name": "app"}, "path": "./", "interval": "1h"}),
    ):
        await kube.apply(
            {
                "apiVersion": API_VERSION,
                "kind": kind,
                "metadata": {"name": "app", "namespace": namespace},
                "spec": spec,
            },
            field_manager=TESTS,
        )
    served = await serve_local(kube, namespace=namespace)
    try:
        assert "#/?key=" in served.url
        page = await browser.new_page(viewport={"width": WIDE, "height": 900})
        await page.goto(served.url)
        await expect(page.locator(f'#syncs tr[data-key="{namespace}/app"]')).to_be_visible()
        await expect(page.locator(f'#sources tr[data-key="{namespace}/app"]')).to_be_visible()
        await expect(page.locator("#live")).to_have_text("live")
        # Without the key: the sign-in form, and the API answers 401.
        stranger = await browser.new_page()
        await stranger.goto(served.url.split("#", 1)[0])
        await expect(stranger.locator("#token")).to_be_visible()
        base = served.url.split("/ui/", 1)[0]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/ui/api/overview") as response:
                assert response.status == 401
            async with http.post(
                f"{base}/ui/api/login",
                json={"token": "guessed"},
                headers={"Origin": base},
            ) as response:
                assert response.status == 401
    finally:
        await served.close()
