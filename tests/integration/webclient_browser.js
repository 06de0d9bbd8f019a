// Drives Debian's chromium with playwright-core for test_http_browser.py: loads the web client page,
// waits for Converse.js to render its login form, takes a screenshot and prints what it saw as JSON.
// Usage: node webclient_browser.js URL SCREENSHOT USER_DATA_DIR
'use strict';
const { chromium } = require('playwright-core');

async function main() {
  const [url, shot, profile] = process.argv.slice(2);
  const seen = { requests: [], console: [], errors: [] };
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
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
    await page.goto(url, { waitUntil: 'load', timeout: 30000 });
    const jid = page.locator('input[name="username"], input[name="jid"]').first();
    await jid.waitFor({ state: 'visible', timeout: 30000 });
    const password = page.locator('input[name="password"]').first();
    await password.waitFor({ state: 'visible', timeout: 10000 });
    seen.submit = await page.locator('form input[type="submit"], form button[type="submit"]').count();
    seen.title = await page.title();
    seen.converse = await page.evaluate(() => typeof window.converse);
    await page.waitForTimeout(1000);	// the login form fades in: let the screenshot show it settled
    await page.screenshot({ path: shot, fullPage: false });
    seen.ok = true;
  } catch (e) {
    seen.ok = false;
    seen.failure = String(e);
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(seen) + '\n');
}

main().catch((e) => { process.stdout.write(JSON.stringify({ ok: false, failure: String(e) }) + '\n'); process.exit(1); });
