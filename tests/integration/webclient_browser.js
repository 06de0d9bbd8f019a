// Drives Debian's chromium with playwright-core for test_http_browser.py: loads the web client page,
// waits for Converse.js to render its login form, takes a screenshot and prints what it saw as JSON.
// With JID PASSWORD PEER TEXT_IN TEXT_OUT it also logs in through the form, says {"stage":"online"}
// once the roster shows PEER and {"stage":"chat"} once the chat with PEER is open, waits for TEXT_IN to show in it, answers it with TEXT_OUT typed
// into that chat, and records the page's WebSockets.
// Usage: node webclient_browser.js URL SCREENSHOT USER_DATA_DIR [JID PASSWORD PEER TEXT_IN TEXT_OUT]
'use strict';
const { chromium } = require('playwright-core');

// Logs in through Converse's form, opens the chat with the peer from the roster, waits for textIn
// there and answers it from that chat's text area.
async function chat(page, a, seen) {
  const { textIn, textOut } = a;
  await a.jid.fill(a.jidText);
  await a.password.fill(a.passwordText);
  await page.locator('form input[type="submit"], form button[type="submit"]').first().click();
  const contact = page.getByText(a.peer).first();
  await contact.waitFor({ state: 'visible', timeout: 60000 });
  process.stdout.write(JSON.stringify({ stage: 'online' }) + '\n');
  await contact.click();	// opens the chat with the peer, where its message shows
  const box = page.locator('textarea.chat-textarea').first();
  await box.waitFor({ state: 'visible', timeout: 30000 });
  // only now may the peer write: a message the page got over its WebSocket while Converse was
  // still setting up after login was seen never to show (the frame came, the DOM never had it)
  process.stdout.write(JSON.stringify({ stage: 'chat' }) + '\n');
  const incoming = page.getByText(textIn).first();
  await incoming.waitFor({ state: 'visible', timeout: 60000 });
  seen.received = true;
  await box.fill(textOut);
  await box.press('Enter');
  await page.getByText(textOut).first().waitFor({ state: 'visible', timeout: 10000 });
  seen.sent = true;
  await page.waitForTimeout(1000);
}

async function main() {
  const [url, shot, profile, jidText, passwordText, peer, textIn, textOut] = process.argv.slice(2);
  const seen = { requests: [], console: [], errors: [], websockets: [] };
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--ignore-certificate-errors'],	/* the test server's certificate is self-signed */
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
  });
  try {
    // loopback only: the page's links to remote images and the like are refused, and counted
    seen.blocked = [];
    await context.route('**/*', (route) => {
      const host = new URL(route.request().url()).hostname;
      if (host === 'localhost' || host === '127.0.0.1') return route.continue();
      seen.blocked.push(route.request().url());
      return route.abort();
    });
    const page = context.pages()[0] || await context.newPage();
    page.on('response', (r) => seen.requests.push([r.status(), r.url()]));
    page.on('console', (m) => seen.console.push(m.type() + ': ' + m.text()));
    page.on('pageerror', (e) => seen.errors.push(String(e)));
    seen.frames = 0;
    page.on('websocket', (ws) => {
      seen.websockets.push(ws.url());
      ws.on('framereceived', (f) => { seen.frames++; if (textIn && String(f.payload).includes(textIn)) seen.wsIn = String(f.payload); });
    });
    await page.goto(url, { waitUntil: 'load', timeout: 30000 });
    const jid = page.locator('input[name="username"], input[name="jid"]').first();
    await jid.waitFor({ state: 'visible', timeout: 30000 });
    const password = page.locator('input[name="password"]').first();
    await password.waitFor({ state: 'visible', timeout: 10000 });
    seen.submit = await page.locator('form input[type="submit"], form button[type="submit"]').count();
    seen.title = await page.title();
    seen.converse = await page.evaluate(() => typeof window.converse);
    if (jidText) {
      await chat(page, { jid, password, jidText, passwordText, peer, textIn, textOut }, seen);
    } else {
      await page.waitForTimeout(1000);	// the login form fades in: let the screenshot show it settled
    }
    await page.screenshot({ path: shot, fullPage: false });
    seen.ok = true;
  } catch (e) {
    seen.ok = false;
    seen.failure = String(e);
    const page = context.pages()[0];
    if (page && textIn) {	// where the text the page was waiting for is, if it is anywhere
      const all = page.getByText(textIn);
      seen.textInShown = [];
      for (let i = 0; i < Math.min(await all.count().catch(() => 0), 8); i++)
        seen.textInShown.push(await all.nth(i).evaluate((el) => el.tagName + '.' + el.className + (el.checkVisibility() ? ' visible' : ' hidden')).catch(String));
    }
    if (page) await page.screenshot({ path: shot, fullPage: false }).catch(() => {});
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(seen) + '\n');
}

main().catch((e) => { process.stdout.write(JSON.stringify({ ok: false, failure: String(e) }) + '\n'); process.exit(1); });
