"""The todo page in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from shared_testkit.fake_http import Recorded, Reply, fake_http
from shared_testkit.processes import ServiceProcess

SVG_PICTURE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="600">'
    b'<rect width="1200" height="600" fill="#3a7"/></svg>'
)
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def running_todo(database_url: str, nats_url: str, tmp_path: Path, image: str) -> Iterator[str]:
    todo = ServiceProcess(
        "svc-todo",
        {
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "DATA_DIR": str(tmp_path / "data"),
            "IMAGE_SOURCE_URL": image,
        },
        tmp_path,
    )
    todo.start(wait_for="/readyz", timeout=30)
    try:
        yield todo.url
    finally:
        todo.stop()


@pytest.fixture
def todo_url(database_url: str, nats_url: str, tmp_path: Path) -> Iterator[str]:
    with running_todo(database_url, nats_url, tmp_path, "http://127.0.0.1:9/unreachable") as url:
        yield url


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is needed for browser tests: apt-get install chromium"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        await browser.close()


async def open_page(browser: Browser, url: str) -> Page:
    page = await browser.new_page()
    await page.goto(url)
    await page.wait_for_function("() => window.htmx !== undefined")
    return page


async def test_create_reject_toggle_and_delete(browser: Browser, todo_url: str) -> None:
    page = await open_page(browser, todo_url)
    text, counter = page.locator("#todo-text"), page.locator("#counter")

    await text.fill("buy milk 🥛")
    await expect(counter).to_have_text("10/140")
    await page.locator("#create").click()
    item = page.locator("#todo-list li.todo", has_text="buy milk 🥛")
    await expect(item).to_be_visible()
    await expect(text).to_have_value("")
    await expect(counter).to_have_text("0/140")

    await text.fill("x" * 141)
    await expect(counter).to_have_text("141/140")
    await expect(page.locator("#create")).to_be_disabled()
    await expect(page.locator("#form-error")).to_contain_text("at most 140 characters")
    await expect(page.locator("#todo-list li.todo")).to_have_count(1)

    await item.locator("input.toggle").click()
    done = page.locator("#todo-list li.todo.done", has_text="buy milk")
    await expect(done).to_be_visible()
    decoration = await done.locator(".text").evaluate(
        "node => getComputedStyle(node).textDecorationLine"
    )
    assert decoration == "line-through"

    await done.locator("button.delete").click()
    await expect(page.locator("#todo-list li.todo")).to_have_count(0)
    async with httpx.AsyncClient(base_url=todo_url) as client:
        assert (await client.get("/api/todos")).json() == []


async def test_without_an_image_source_the_page_says_so(browser: Browser, todo_url: str) -> None:
    """The fixture's image source is a closed port."""
    page = await open_page(browser, todo_url)

    await expect(page.locator("#hourly-image")).to_have_text(
        "No image yet: the image source is unavailable. Retrying every minute."
    )
    await expect(page.locator("#hourly-image")).to_have_attribute("role", "status")
    await expect(page.locator("img")).to_have_count(0)


async def test_the_image_replaces_the_waiting_message_when_it_arrives(
    browser: Browser, database_url: str, nats_url: str, tmp_path: Path
) -> None:
    """The source answers only when the test lets it, so the page is seen waiting first."""
    released = threading.Event()

    def held_image(request: Recorded) -> Reply:
        released.wait(timeout=8)  # below svc-todo's 10 s read timeout
        return Reply(200, SVG_PICTURE, {"Content-Type": "image/svg+xml"})

    with (
        fake_http(held_image) as source,
        running_todo(database_url, nats_url, tmp_path, f"{source.url}/1200") as url,
    ):
        page = await open_page(browser, url)
        await expect(page.locator("#hourly-image")).to_have_text("Fetching the first image…")

        released.set()

        picture = page.locator("#hourly-image img")
        await expect(picture).to_be_visible(timeout=5000)
        assert await picture.evaluate("img => img.complete && img.naturalWidth") == 1200
        await expect(page.locator("#hourly-image")).not_to_contain_text("Fetching")


async def test_the_counter_warns_when_fewer_than_20_characters_remain(
    browser: Browser, todo_url: str
) -> None:
    page = await open_page(browser, todo_url)
    text, counter = page.locator("#todo-text"), page.locator("#counter")
    warning = page.locator("#counter-warning")
    await expect(warning).to_have_attribute("aria-live", "polite")

    await text.fill("x" * 120)
    await expect(counter).to_have_text("120/140")
    await expect(counter).not_to_have_class(re.compile(r"\bnear\b"))
    await expect(warning).to_have_text("")
    calm = await counter.evaluate("node => getComputedStyle(node).color")

    await text.fill("x" * 121)
    await expect(counter).to_have_class(re.compile(r"\bnear\b"))
    await expect(warning).to_have_text("19 characters left")
    assert await counter.evaluate("node => getComputedStyle(node).color") != calm
    await expect(page.locator("#create")).to_be_enabled()

    await text.fill("x" * 139)
    await expect(warning).to_have_text("1 character left")
    await text.fill("x" * 140)
    await expect(warning).to_have_text("0 characters left")
    await expect(page.locator("#create")).to_be_enabled()

    await text.fill("x" * 141)
    await expect(counter).to_have_class(re.compile(r"\bover\b"))
    await expect(warning).to_have_text("")
    await expect(text).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#form-error")).to_contain_text("at most 140 characters")


async def test_the_server_message_shows_when_the_client_check_is_bypassed(
    browser: Browser, todo_url: str
) -> None:
    page = await open_page(browser, todo_url)

    # A request that skips the page's own check (an old page, a script): the server refuses it
    # and the page shows the server's reason where the form shows errors.
    await page.evaluate(
        """() => htmx.ajax('POST', '/fragments/todos',
             {source: '#todo-list', target: '#todo-list', swap: 'outerHTML',
              values: {text: 'y'.repeat(141)}})"""
    )

    await expect(page.locator("#form-error")).to_contain_text("at most 140 characters, got 141")
    await expect(page.locator("#todo-list li.todo")).to_have_count(0)


async def test_a_second_page_sees_new_todos_live(browser: Browser, todo_url: str) -> None:
    watcher = await open_page(browser, todo_url)
    writer = await open_page(browser, todo_url)

    await writer.locator("#todo-text").fill("seen by the other page")
    await writer.locator("#create").click()

    await expect(
        watcher.locator("#todo-list li.todo", has_text="seen by the other page")
    ).to_be_visible(timeout=1000)
    async with httpx.AsyncClient(base_url=todo_url) as client:
        await client.post("/api/todos", json={"text": "created by the API"})
    await expect(
        watcher.locator("#todo-list li.todo", has_text="created by the API")
    ).to_be_visible(timeout=1000)
