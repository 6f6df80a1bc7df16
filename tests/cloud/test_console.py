"""The operator console in a real browser: Debian's headless Chromium, driven by Playwright,
against a real ``cloud-service serve`` fed by the real edge agent.

Every page is loaded with the network cut off from everything but 127.0.0.1 (any other request
is aborted and recorded, and the test fails if there was one), and saved as a screenshot under
``test-artifacts/console/`` (git-ignored). Skipped where Chromium or Playwright is absent:
nothing here downloads a browser.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from cloud_service import images
from latentlink.data.synthetic import synthetic_scene
from latentlink.models.export import export_compressor
from tests.cloud.servers import ADMIN_TOKEN, REPO, add_vehicle, bearer, server_process
from tests.edge.conftest import FRAME_SIZE, AgentRunner, write_frames

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="Playwright for Python is not installed (pip install "
                                      "playwright; its browser download is not needed)")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts" / "console"
FRAMES = {"car-1": 4, "car-2": 2}
JOB = {"iterations": "4", "batch_size": "2", "holdout_fraction": "0.25", "crop_size": "32",
       "lr": "0.01"}


@dataclass
class Console:
    """The server under test, its vehicles' tokens, and what the browser tried to reach."""

    url: str
    tokens: dict[str, str]
    outside: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, codec) -> Iterator[Console]:
    """``cloud-service serve`` with frames uploaded by ``edge-agent run --once`` and labelled
    exactly (synthetic scenes), so a fine-tuning job has something to learn from."""
    runner, codec_path = codec
    root = tmp_path_factory.mktemp("console")
    data_dir = root / "data"
    env = {"LATENTLINK_ADMIN_TOKEN": ADMIN_TOKEN, "LATENTLINK_CODEC_WEIGHTS": str(codec_path),
           "LATENTLINK_SEGMENTER_WEIGHTS": "untrained",
           "LATENTLINK_DEVICE": "cpu", "LATENTLINK_BATCH_TIMEOUT_MS": "5",
           "LATENTLINK_SWEEP_INTERVAL_S": "0.5"}
    tokens = {name: add_vehicle(data_dir, name, env) for name in FRAMES}
    onnx = export_compressor(runner.codec, root / "net_c.onnx")
    with server_process(data_dir, env) as (_, url):
        for seed, (vehicle, count) in enumerate(FRAMES.items()):
            folder = root / vehicle
            folder.mkdir()
            write_frames(folder, count, seed=10 * seed)
            code, log = AgentRunner(onnx, url, vehicle, tokens[vehicle],
                                    root / f"spool-{vehicle}").run(folder, "--once")
            assert code == 0, log
        label_and_wait(url)
        yield Console(url, tokens)


def label_and_wait(url: str) -> None:
    """Label car-1's frames with their scenes' exact labels; wait until every frame is
    segmented (the pages show masks)."""
    with httpx.Client(base_url=url, headers=bearer(ADMIN_TOKEN), timeout=30) as admin:
        for item in admin.get("/frames", params={"vehicle": "car-1"}).json()["items"]:
            index = int(re.search(r"frame_(\d+)", item["frame"]).group(1))
            _, label = synthetic_scene(*FRAME_SIZE, index)
            answer = admin.put(f"/frames/{item['id']}/annotation",
                               content=images.encode_png(label),
                               headers={"content-type": "image/png"})
            assert answer.status_code == 200, answer.text
        segmented_by(admin)


def segmented_by(admin: httpx.Client) -> Counter[str]:
    """Wait until every frame is segmented; how many each segmenter did."""
    deadline = time.monotonic() + 60
    while True:
        items = admin.get("/frames").json()["items"]
        if {item["segmentation"]["status"] for item in items} == {"done"}:
            return Counter(item["segmenter"] for item in items)
        assert time.monotonic() < deadline, f"frames were not segmented: {items}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: sync_api.Browser, console: Console) -> Iterator[sync_api.Page]:
    """A fresh browser context (no cookies) whose every request off 127.0.0.1 is aborted and
    recorded; the test fails if any was attempted."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    attempted: list[str] = []

    def only_loopback(route: sync_api.Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
    assert attempted == [], f"the console reached outside 127.0.0.1: {attempted}"


def sign_in(page: sync_api.Page, console: Console, token: str = ADMIN_TOKEN) -> None:
    page.goto(f"{console.url}/ui")
    assert urlsplit(page.url).path == "/ui/login"
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def images_loaded(page: sync_api.Page, selector: str) -> list[int]:
    """naturalWidth of every image matching ``selector``, once each has loaded. The server
    renders a bounded number of pictures at once and refuses the rest with 503; the page asks
    again later, so a refused picture must still arrive (within the wait) to count."""
    with contextlib.suppress(sync_api.TimeoutError):
        page.wait_for_function(
            "s => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0)",
            arg=selector, timeout=30_000)
    return page.eval_on_selector_all(selector, "all => all.map(i => i.naturalWidth)")


def shoot(page: sync_api.Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_fleet_frames_and_frame_pages(page: sync_api.Page, console: Console) -> None:
    page.goto(console.url)
    page.click("text=Operator console")
    shoot(page, "login")
    sign_in(page, console)
    assert urlsplit(page.url).path == "/ui"
    assert page.text_content("[data-figure=frames]") == str(sum(FRAMES.values()))
    assert page.text_content("[data-figure=vehicles]") == str(len(FRAMES))
    assert page.text_content("[data-status=done]") == str(sum(FRAMES.values()))
    assert page.locator("[data-vehicle=car-1] td").nth(1).text_content() == str(FRAMES["car-1"])
    assert page.locator("svg .bar").count() > 0
    assert "untrained" in page.text_content("[data-figure=segmenter]")
    assert page.get_attribute("[data-untrained-frames]", "data-untrained-frames") == \
        str(sum(FRAMES.values()))  # no shortcut: the untrained segmenter would redo them
    shoot(page, "fleet")

    page.click("nav >> text=Frames")
    page.select_option("select[name=vehicle]", "car-2")
    page.click("form.filters button")
    assert page.locator(".tile").count() == FRAMES["car-2"]
    page.select_option("select[name=vehicle]", "")
    page.click("form.filters button")
    assert page.locator(".tile").count() == sum(FRAMES.values())
    widths = images_loaded(page, ".tile img")
    assert len(widths) == 2 * sum(FRAMES.values()) and min(widths) > 0
    shoot(page, "frames")

    page.locator(".tile a").first.click()
    page.wait_for_load_state()
    assert re.fullmatch(r"/ui/frames/\d+", urlsplit(page.url).path)
    assert images_loaded(page, ".overlay .picture") == [FRAME_SIZE[1]]
    assert images_loaded(page, ".overlay .mask-layer") == [FRAME_SIZE[1]]
    assert page.locator(".legend tr").count() > 0
    assert "human label" in page.text_content("[data-annotations]")
    mask = page.locator(".overlay .mask-layer")
    assert mask.is_visible()
    page.uncheck("input[name=overlay]")
    assert not mask.is_visible()
    page.check("input[name=overlay]")
    page.fill("input[name=opacity]", "80")
    assert mask.evaluate("m => getComputedStyle(m).opacity") == "0.8"
    shoot(page, "frame")
    with page.expect_download() as download:
        page.click("text=download")
    assert Path(download.value.path()).stat().st_size > 0


def test_finetune_job_promote_and_sign_out(page: sync_api.Page, console: Console) -> None:
    sign_in(page, console)
    page.click("nav >> text=Models and jobs")
    form = page.locator("form[data-job-form]")
    form.locator("input[name=vehicle]").fill("car-1")
    for name, value in JOB.items():
        form.locator(f"input[name={name}]").fill(value)
    form.locator("button").click()
    page.wait_for_load_state()
    notice = page.text_content(".notice")
    job = re.search(r"job (\d+) queued", notice).group(1)
    # console.js follows the job and reloads the page once it has settled.
    page.wait_for_selector(f"tr[data-job='{job}'][data-state=succeeded]", timeout=90_000)
    row = page.locator(f"tr[data-job='{job}']")
    assert row.locator("progress").evaluate("p => p.value") == 1
    version = re.search(r"version (\d+)", row.text_content()).group(1)
    assert page.locator(f"tr[data-version='{version}']").count() == 1
    shoot(page, "models")

    if page.locator(f"tr[data-version='{version}'].serving").count():  # the job promoted it
        page.click("text=Roll back to the previous model")
        assert "the configured model serves now" in page.text_content(".notice")
    promote = page.locator(f"tr[data-version='{version}'] form")
    promote.locator("input[name=force]").check()
    promote.locator("button").click()
    assert f"Version {version} serves now" in page.text_content(".notice")
    assert page.locator(f"tr[data-version='{version}'].serving").count() == 1
    with httpx.Client(base_url=console.url, headers=bearer(ADMIN_TOKEN)) as admin:
        assert admin.get("/models").json()["serving"] == int(version)
        assert admin.get(f"/jobs/{job}").json()["state"] == "succeeded"
    shoot(page, "models-promoted")

    page.click("text=Sign out")
    assert urlsplit(page.url).path == "/ui/login"
    page.goto(f"{console.url}/ui/models")
    assert urlsplit(page.url).path == "/ui/login"


def serve_a_finetuned_version(admin: httpx.Client) -> str:
    """The serving segmenter's name, after fine-tuning and promoting one through the API if the
    untrained one still serves (the console test above does it through the pages; this keeps the
    test that needs it independent of test order). A promotion alone segments nothing again."""
    serving = admin.get("/models").json()["serving_name"]
    if serving != "untrained":
        return serving
    hyperparameters = {name: float(value) if "." in value else int(value)
                       for name, value in JOB.items()}
    submitted = admin.post("/jobs/finetune", json={"vehicle": "car-1",
                                                   "hyperparameters": hyperparameters})
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()["id"]
    deadline = time.monotonic() + 90
    while (state := admin.get(f"/jobs/{job}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state["state"] == "succeeded", state
    if admin.get("/models").json()["serving"] != state["version"]:  # the job did not promote it
        promoted = admin.post(f"/models/{state['version']}/promote", params={"force": "true"})
        assert promoted.status_code == 200, promoted.text
    serving = admin.get("/models").json()["serving_name"]
    assert serving != "untrained"
    return serving


def test_segment_again(page: sync_api.Page, console: Console) -> None:
    """With a fine-tuned version serving while every mask is still the untrained segmenter's,
    the Fleet page's shortcut, the Models page's form and the roll-back option each send frames
    back to segmentation, and the serving model redoes them."""
    total = sum(FRAMES.values())
    with httpx.Client(base_url=console.url, headers=bearer(ADMIN_TOKEN), timeout=30) as admin:
        promoted = serve_a_finetuned_version(admin)
        assert segmented_by(admin) == {"untrained": total}
        sign_in(page, console)
        shortcut = page.locator("form[data-resegment-untrained] button")
        assert f"({total})" in shortcut.text_content()
        shoot(page, "fleet-promoted")
        shortcut.click()
        page.wait_for_load_state()
        assert urlsplit(page.url).path == "/ui"
        assert page.text_content(".notice").strip() == f"{total} frames queued for segmentation."
        assert segmented_by(admin) == {promoted: total}
        page.reload()
        assert page.locator("form[data-resegment-untrained]").count() == 0
        shoot(page, "fleet-resegmented")

        page.goto(f"{console.url}/ui/models")
        form = page.locator("form[data-resegment-form]")
        form.locator("select[name=vehicle]").select_option("car-2")
        form.locator("select[name=segmenter]").select_option(promoted)
        form.locator("button").click()
        page.wait_for_load_state()
        assert page.text_content(".notice").strip() == \
            f"{FRAMES['car-2']} frames queued for segmentation."
        assert segmented_by(admin) == {promoted: total}

        rollback = page.locator("form[data-rollback-form]")
        assert rollback.locator("input[name=resegment_since]").input_value()  # 24 h ago
        rollback.locator("input[name=resegment]").check()
        rollback.locator("button").click()
        page.wait_for_load_state()
        assert f"serves now. {total} frames queued for segmentation." in \
            page.text_content(".notice")
        serving = admin.get("/models").json()["serving_name"]
        assert serving != promoted and segmented_by(admin) == {serving: total}
        shoot(page, "models-resegmented")


def test_a_vehicle_token_cannot_sign_in(page: sync_api.Page, console: Console) -> None:
    sign_in(page, console, console.tokens["car-1"])
    assert urlsplit(page.url).path == "/ui/login"
    assert "does not sign in" in page.text_content(".error")
    page.goto(f"{console.url}/ui")
    assert urlsplit(page.url).path == "/ui/login"
    picture = page.request.get(f"{console.url}/ui/frames/1/image.png")
    assert picture.status == 401


def test_forms_without_the_csrf_token_are_refused(page: sync_api.Page, console: Console) -> None:
    sign_in(page, console)
    page.goto(f"{console.url}/ui/models")
    token = page.get_attribute("form[data-job-form] input[name=csrf]", "value")
    for form in ({}, {"csrf": "forged"}):
        for action in ("/ui/models/rollback", "/ui/jobs", "/ui/frames/resegment",
                       "/ui/logout"):
            answer = page.request.post(f"{console.url}{action}", form=form)
            assert answer.status == 403, (action, form, answer.text())
    elsewhere = page.request.post(f"{console.url}/ui/models/rollback", form={"csrf": token},
                                  headers={"origin": "http://evil.example"})
    assert elsewhere.status == 403
    with httpx.Client(base_url=console.url) as anonymous:
        fresh = anonymous.get("/ui/login", headers={"accept": "text/html"})
        nonce = re.search(r'name="csrf" value="([^"]+)"', fresh.text).group(1)
        assert anonymous.post("/ui/login", data={"token": ADMIN_TOKEN}).status_code == 403
        signed = anonymous.post("/ui/login", data={"csrf": nonce, "token": ADMIN_TOKEN})
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie


def test_api_documentation_renders_offline(page: sync_api.Page, console: Console) -> None:
    page.goto(f"{console.url}/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "LatentLink cloud service" in page.text_content(".swagger-ui .info .title")
    assert page.locator(".opblock-summary-path").count() > 10
    shoot(page, "docs")
    page.goto(f"{console.url}/redoc")
    page.wait_for_selector("h1")
    assert "LatentLink cloud service" in page.text_content("h1")
    assert page.get_by_text("/frames/{frame_id}/segmentation").count() > 0
    shoot(page, "redoc")
