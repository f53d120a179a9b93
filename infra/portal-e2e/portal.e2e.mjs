// Drives the customer portal in Debian's chromium through playwright-core. Run by
// portal_test.go, which starts the dev stack and a receiver and passes:
//   PORTAL_URL   a portal link (token in the fragment)
//   EXPIRED_URL  a link whose token expired
//   API, API_KEY the dev tenant's API and key (to publish an event)
//   OWNER        the link's owner; RECEIVER a URL that answers 200
//   PROVIDER     the tenant's name, as the expired page names it
//   SHOTS        the directory screenshots are written to
// It exits non-zero with a message on the first failed step.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const PORTAL_URL = env('PORTAL_URL');
const EXPIRED_URL = env('EXPIRED_URL');
const API = env('API');
const API_KEY = env('API_KEY');
const OWNER = env('OWNER');
const RECEIVER = env('RECEIVER');
const PROVIDER = env('PROVIDER');
const SHOTS = env('SHOTS');
const QUEUE_URL = env('QUEUE_URL');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

mkdirSync(SHOTS, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'gancho-portal-chromium-'));

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

function step(name) {
  console.log(`step: ${name}`);
}

const problems = [];

async function main() {
  // A fresh profile each run; the background-networking flags keep Chromium from
  // calling out (it may reach only loopback).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 900 },
    timeout: 60_000,
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(20_000);
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const requests = [];
    page.on('request', (r) => requests.push(r.url()));

    step('open the link');
    await page.goto(PORTAL_URL);
    await page.getByRole('heading', { name: 'Subscriptions' }).waitFor();
    check(!page.url().includes('token='), `the token stays in the address bar: ${page.url()}`);
    for (const u of requests) check(!u.includes('token=') && !u.includes(new URL(PORTAL_URL).hash.slice(7, 30)), `a request carries the token: ${u}`);
    await page.getByText('No subscriptions yet.').waitFor();

    step('a problem shows next to its field');
    await page.getByRole('button', { name: 'New subscription' }).click();
    await page.getByLabel('Endpoint URL').fill('not a url');
    await page.getByRole('button', { name: 'Create subscription' }).click();
    const urlError = page.locator('#f-url-error');
    await urlError.waitFor({ state: 'visible' });
    check((await page.getByLabel('Endpoint URL').getAttribute('aria-invalid')) === 'true', 'the URL field is not marked invalid');

    step('create a subscription from the catalog');
    await page.getByLabel('Name').fill('Orders');
    await page.getByLabel('Endpoint URL').fill(RECEIVER);
    await page.getByRole('checkbox', { name: /order\.created/ }).check();
    await page.screenshot({ path: join(SHOTS, 'portal-new-subscription.png'), fullPage: true });
    await page.getByRole('button', { name: 'Create subscription' }).click();
    const card = page.locator('article.card', { has: page.getByRole('heading', { name: 'Orders' }) });
    await card.waitFor();
    const created = await card.locator('.secret').textContent();
    check(created.startsWith('whsec_'), `the new secret is not shown: ${created}`);

    step('publish an event through the API');
    const res = await fetch(`${API}/v1/events`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'order.created', ownerId: OWNER, subject: 'o-1', payload: { orderId: 1, total: 42.5 } }),
    });
    check(res.status === 202, `publish answered ${res.status}: ${await res.text()}`);

    step('see the delivery and its attempt');
    await page.getByRole('button', { name: 'Deliveries' }).first().click();
    await page.getByRole('heading', { name: 'Deliveries' }).waitFor();
    const delivered = page.locator('details.delivery', { has: page.locator('.badge.delivered') }).first();
    const settled = () => page.locator('#deliveries[aria-busy="false"]').waitFor({ state: 'attached' });
    await settled();
    for (let i = 0; i < 60 && !(await delivered.count()); i++) {
      await page.waitForTimeout(500);
      await page.getByRole('button', { name: 'Apply' }).click();
      await settled();
    }
    check(await delivered.count(), 'no delivered delivery appeared');
    await delivered.locator('summary').click();
    const row = delivered.locator('tbody tr').first();
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    check(cells.includes('200') && cells.some((c) => / ms$/.test(c)) && cells.some((c) => c.includes('received')),
      `the attempt row shows ${JSON.stringify(cells)}`);
    await page.locator('#chart svg rect.delivered').first().waitFor({ state: 'attached' });
    const label = await page.locator('#chart svg').getAttribute('aria-label');
    check(/[1-9]\d* delivered/.test(label), `the chart says ${label}`);
    check(!(await page.locator('#chart').textContent()).includes('null'), 'the chart box shows "null"');
    await page.screenshot({ path: join(SHOTS, 'portal-deliveries.png'), fullPage: true });

    step('retry and recover');
    const item = page.locator(`details.delivery[data-id="${await delivered.getAttribute('data-id')}"]`);
    await item.getByRole('button', { name: 'Retry now' }).click();
    await item.getByText('Retry queued').waitFor();
    await page.getByLabel('Subscription').selectOption({ label: 'Orders' });
    await page.getByRole('button', { name: 'Recover failed' }).click();
    await page.getByText(/Re-queued 0 failed or cancelled deliveries/).waitFor();

    step('the catalog with schema and example');
    await page.getByRole('button', { name: 'Event catalog' }).click();
    const entry = page.locator('article.card', { has: page.getByRole('heading', { name: 'order.created' }) });
    await entry.waitFor();
    await entry.getByText('Example payload').click();
    const ex = await entry.locator('details').last().locator('pre').textContent();
    check(ex.includes('"orderId"'), `the example is ${ex}`);
    await page.screenshot({ path: join(SHOTS, 'portal-catalog.png'), fullPage: true });

    step('rotate the secret');
    await page.getByRole('button', { name: 'Subscriptions' }).click();
    const card2 = page.locator('article.card', { has: page.getByRole('heading', { name: 'Orders' }) });
    await card2.getByRole('button', { name: 'Reveal secret' }).click();
    const before = await card2.locator('.secret').textContent();
    check(before === created, `revealed ${before}, created ${created}`);
    await card2.getByRole('button', { name: 'Rotate secret' }).click();
    await card2.getByText('Secret rotated').waitFor();
    const after = await card2.locator('.secret').textContent();
    check(after.startsWith('whsec_') && after !== before, `rotated secret ${after}, before ${before}`);
    await card2.getByRole('button', { name: 'Send test' }).click();
    await card2.getByText('Test sent').waitFor();

    step('a queue destination shows as one, and saves without a URL');
    const made = await fetch(`${API}/v1/subscriptions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'Invoice queue', ownerId: OWNER, events: ['invoice.paid'], destination: { type: 'sqs', queueUrl: QUEUE_URL } }),
    });
    check(made.status === 201, `creating a queue subscription answered ${made.status}: ${await made.text()}`);
    await page.getByRole('button', { name: 'Event catalog' }).click();
    await page.getByRole('button', { name: 'Subscriptions' }).click();
    const qcard = page.locator('article.card', { has: page.getByRole('heading', { name: 'Invoice queue' }) });
    await qcard.waitFor();
    check((await qcard.textContent()).includes(`SQS ${QUEUE_URL}`), `the queue card shows ${await qcard.textContent()}`);
    await qcard.getByRole('button', { name: 'Edit' }).click();
    const dest = page.getByLabel('Destination');
    check((await dest.getAttribute('readonly')) !== null && (await dest.inputValue()) === `SQS ${QUEUE_URL}`, 'the destination is not shown read-only');
    await page.getByLabel('Description').fill('to the invoice queue');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved.').waitFor();

    step('keyboard: the tabs are reachable and work with Enter');
    await page.getByRole('button', { name: 'Event catalog' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Event catalog' }).waitFor();
    await page.getByRole('button', { name: 'Subscriptions' }).focus();
    await page.keyboard.press('Enter');
    await card2.waitFor();
    await page.screenshot({ path: join(SHOTS, 'portal-subscriptions.png'), fullPage: true });

    step('readable on a phone');
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `the page scrolls sideways on a phone by ${overflow}px`);
    await page.screenshot({ path: join(SHOTS, 'portal-phone.png'), fullPage: true });

    step('an expired link');
    const expired = await context.newPage();
    await expired.goto(EXPIRED_URL);
    await expired.getByText(`This link has expired; ask ${PROVIDER} for a new one.`).waitFor();
    check(!(await expired.locator('#tabs').isVisible()), 'the tabs show on an expired link');
    await expired.screenshot({ path: join(SHOTS, 'portal-expired.png') });

    check(problems.length === 0, `the page reported errors (a Content-Security-Policy violation shows here):\n${problems.join('\n')}`);
    console.log('ok: portal e2e passed');
  } finally {
    await context.close();
  }
}

main().then(() => rmSync(profile, { recursive: true, force: true }), (err) => {
  rmSync(profile, { recursive: true, force: true });
  console.error(`FAIL: ${err.stack || err}`);
  if (problems.length) console.error(problems.join('\n'));
  process.exit(1);
});
