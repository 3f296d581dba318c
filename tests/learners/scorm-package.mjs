// Static side of the SCORM 1.2 check: unpacking the zip and validating imsmanifest.xml.
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DOMParser } from '@xmldom/xmldom';
import yauzl from 'yauzl';
import { fail } from './lib.mjs';

export const IMSCP_NS = 'http://www.imsproject.org/xsd/imscp_rootv1p1p2';
export const ADLCP_NS = 'http://www.adlnet.org/xsd/adlcp_rootv1p2';
const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';

/** Unpacks `zipPath` into `dir`; returns the set of file paths (forward slashes). */
export async function unzip(zipPath, dir) {
  let zip;
  try {
    zip = await yauzl.openPromise(zipPath, { strictFileNames: true, validateEntrySizes: true });
  } catch (err) {
    fail(`${zipPath} is not a readable zip: ${err.message}`);
  }
  const files = new Set();
  const seen = new Set();
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      if (seen.has(name)) fail(`${zipPath}: the entry ${name} appears twice`);
      seen.add(name);
      if (entry.isEncrypted()) fail(`${zipPath}: the entry ${name} is encrypted`);
      const target = path.join(dir, name);
      if (!target.startsWith(dir + path.sep)) fail(`${zipPath}: the entry ${name} points outside the package`);
      if (name.endsWith('/')) {
        fs.mkdirSync(target, { recursive: true });
        continue;
      }
      fs.mkdirSync(path.dirname(target), { recursive: true });
      const stream = await zip.openReadStreamPromise(entry);
      await pipeline(stream, fs.createWriteStream(target));
      files.add(name);
    }
  } catch (err) {
    if (err && err.constructor && err.constructor.name === 'CheckFailure') throw err;
    fail(`${zipPath}: cannot unpack: ${err.message}`);
  } finally {
    zip.close();
  }
  return files;
}

function children(node, ns, localName) {
  const out = [];
  for (let child = node.firstChild; child; child = child.nextSibling) {
    if (child.nodeType === 1 && child.namespaceURI === ns && child.localName === localName) out.push(child);
  }
  return out;
}

function child(node, ns, localName) {
  return children(node, ns, localName)[0] || null;
}

function text(node) {
  return node ? String(node.textContent || '').trim() : '';
}

function resolveHref(base, href) {
  const clean = href.split('#')[0].split('?')[0];
  let decoded;
  try {
    decoded = decodeURIComponent(clean);
  } catch {
    decoded = clean;
  }
  return path.posix.normalize(path.posix.join(base || '', decoded)).replace(/^\.\//, '');
}

/**
 * Validates imsmanifest.xml against what SCORM 1.2 players read. Returns
 * {title, scos: [{identifier, title, href, mastery}], resources, notes}; fails on a problem.
 */
export function validateManifest(dir, files) {
  if (!files.has('imsmanifest.xml')) fail('imsmanifest.xml is not at the root of the package');
  const source = fs.readFileSync(path.join(dir, 'imsmanifest.xml'), 'utf8');
  const parseProblems = [];
  let doc;
  try {
    doc = new DOMParser({
      onError(level, message) {
        parseProblems.push(`${level}: ${message}`);
        if (level !== 'warning') throw new Error(message);
      },
    }).parseFromString(source, 'text/xml');
  } catch (err) {
    if (!parseProblems.length) parseProblems.push(err.message);
  }
  if (parseProblems.length) fail(`imsmanifest.xml is not well-formed XML:\n  - ${parseProblems.join('\n  - ')}`);

  const problems = [];
  const notes = [];
  const root = doc.documentElement;
  if (!root || root.localName !== 'manifest' || root.namespaceURI !== IMSCP_NS) {
    fail(`imsmanifest.xml: the root element must be <manifest> in ${IMSCP_NS}, found <${root && root.nodeName}> in ${root && root.namespaceURI}`);
  }

  const metadata = child(root, IMSCP_NS, 'metadata');
  const schema = text(metadata && child(metadata, IMSCP_NS, 'schema'));
  const version = text(metadata && child(metadata, IMSCP_NS, 'schemaversion'));
  if (schema !== 'ADL SCORM') problems.push(`<metadata><schema> is "${schema}", expected "ADL SCORM"`);
  if (version !== '1.2') problems.push(`<metadata><schemaversion> is "${version}", expected "1.2"`);

  // Declared schema files: SCORM 1.2 packages usually carry them at the root.
  const location = root.getAttributeNS(XSI_NS, 'schemaLocation') || '';
  const tokens = location.trim().split(/\s+/).filter(Boolean);
  const missingXsd = [];
  for (let i = 1; i < tokens.length; i += 2) {
    if (!/^[a-z]+:/i.test(tokens[i]) && !files.has(resolveHref('', tokens[i]))) missingXsd.push(tokens[i]);
  }
  if (missingXsd.length) notes.push(`schema files named in xsi:schemaLocation but not in the package: ${missingXsd.join(', ')}`);

  const identifiers = new Map();
  const noteIdentifier = (element, kind) => {
    const id = element.getAttribute('identifier');
    if (!id) {
      problems.push(`a <${kind}> has no identifier`);
      return;
    }
    if (!/^[\p{L}_][\p{L}\p{N}_.\-]*$/u.test(id)) problems.push(`<${kind} identifier="${id}"> is not an XML name (letters, digits, _ . -; no leading digit)`);
    if (identifiers.has(id)) problems.push(`identifier "${id}" is used twice (${identifiers.get(id)} and ${kind})`);
    identifiers.set(id, kind);
  };
  noteIdentifier(root, 'manifest');

  // Resources.
  const resourcesEl = child(root, IMSCP_NS, 'resources');
  if (!resourcesEl) problems.push('no <resources> element');
  const resourcesBase = resourcesEl ? resourcesEl.getAttributeNS(XML_NS, 'base') || '' : '';
  const resources = new Map();
  for (const resource of resourcesEl ? children(resourcesEl, IMSCP_NS, 'resource') : []) {
    noteIdentifier(resource, 'resource');
    const id = resource.getAttribute('identifier');
    const base = path.posix.join(resourcesBase, resource.getAttributeNS(XML_NS, 'base') || '');
    const type = resource.getAttribute('type');
    const scormType = resource.getAttributeNS(ADLCP_NS, 'scormtype');
    if (type !== 'webcontent') problems.push(`resource "${id}" has type="${type}", expected "webcontent"`);
    if (scormType !== 'sco' && scormType !== 'asset') {
      const wrongCase = resource.getAttributeNS(ADLCP_NS, 'scormType');
      problems.push(`resource "${id}" has adlcp:scormtype="${scormType}"${wrongCase ? ` (found adlcp:scormType="${wrongCase}"; SCORM 1.2 spells it scormtype)` : ''}, expected "sco" or "asset"`);
    }
    const href = resource.getAttribute('href');
    let launch = null;
    if (href) {
      launch = resolveHref(base, href);
      if (!files.has(launch)) problems.push(`resource "${id}" launches ${href}, which is not in the package`);
    } else if (scormType === 'sco') {
      problems.push(`SCO resource "${id}" has no href`);
    }
    const listed = [];
    for (const file of children(resource, IMSCP_NS, 'file')) {
      const fileHref = file.getAttribute('href');
      if (!fileHref) {
        problems.push(`resource "${id}" has a <file> without href`);
        continue;
      }
      const resolved = resolveHref(base, fileHref);
      listed.push(resolved);
      if (!files.has(resolved)) problems.push(`resource "${id}" lists ${fileHref}, which is not in the package`);
    }
    if (launch && !listed.includes(launch)) notes.push(`resource "${id}" does not list its launch file ${href} in a <file> element`);
    const dependencies = children(resource, IMSCP_NS, 'dependency').map((d) => d.getAttribute('identifierref'));
    resources.set(id, { id, scormType, launch, listed, dependencies });
  }
  for (const resource of resources.values()) {
    for (const dep of resource.dependencies) {
      if (!resources.has(dep)) problems.push(`resource "${resource.id}" depends on "${dep}", which is not a resource`);
    }
  }

  // Organizations and items.
  const organizationsEl = child(root, IMSCP_NS, 'organizations');
  const organizations = organizationsEl ? children(organizationsEl, IMSCP_NS, 'organization') : [];
  if (!organizations.length) problems.push('no <organization>');
  const defaultOrg = organizationsEl ? organizationsEl.getAttribute('default') : null;
  let organization = organizations[0] || null;
  if (defaultOrg) {
    organization = organizations.find((o) => o.getAttribute('identifier') === defaultOrg) || null;
    if (!organization) problems.push(`<organizations default="${defaultOrg}"> names no organization`);
  } else if (organizations.length) {
    notes.push('<organizations> has no default attribute');
  }
  for (const org of organizations) noteIdentifier(org, 'organization');
  const courseTitle = text(organization && child(organization, IMSCP_NS, 'title'));
  if (organization && !courseTitle) problems.push('the organization has no <title>');

  const scos = [];
  const walk = (parent) => {
    for (const item of children(parent, IMSCP_NS, 'item')) {
      noteIdentifier(item, 'item');
      const id = item.getAttribute('identifier');
      const title = text(child(item, IMSCP_NS, 'title'));
      if (!title) problems.push(`item "${id}" has no <title>`);
      const ref = item.getAttribute('identifierref');
      const nested = children(item, IMSCP_NS, 'item');
      if (ref) {
        const resource = resources.get(ref);
        if (!resource) {
          problems.push(`item "${id}" refers to "${ref}", which is not a resource`);
        } else if (resource.scormType !== 'sco') {
          notes.push(`item "${id}" launches the asset "${ref}"`);
        }
        const masteryEl = child(item, ADLCP_NS, 'masteryscore');
        const mastery = text(masteryEl);
        let masteryValue = null;
        if (!masteryEl) {
          problems.push(`item "${id}" has no <adlcp:masteryscore>`);
        } else if (!/^\d+(\.\d+)?$/.test(mastery) || Number(mastery) > 100) {
          problems.push(`item "${id}" has <adlcp:masteryscore>${mastery}</adlcp:masteryscore>; a number from 0 to 100 is expected`);
        } else {
          masteryValue = Number(mastery);
        }
        const parameters = item.getAttribute('parameters') || '';
        if (resource && resource.scormType === 'sco' && resource.launch) {
          scos.push({ identifier: id, title, href: resource.launch, parameters, mastery: masteryValue });
        }
      } else if (!nested.length) {
        problems.push(`item "${id}" neither launches a resource nor holds items`);
      }
      walk(item);
    }
  };
  if (organization) walk(organization);
  if (!scos.length) problems.push('the default organization launches no SCO');

  if (problems.length) fail(`imsmanifest.xml: ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`);
  return { title: courseTitle, scos, resources: resources.size, notes };
}

/** Relative src/href references in a SCO page that are not in the package. */
export function missingPageReferences(dir, files, launch) {
  const html = fs.readFileSync(path.join(dir, launch), 'utf8');
  const missing = [];
  const pattern = /\s(?:src|href|poster)\s*=\s*("([^"]*)"|'([^']*)')/gi;
  let match;
  while ((match = pattern.exec(html))) {
    const raw = (match[2] !== undefined ? match[2] : match[3]).trim().replace(/&amp;/g, '&');
    if (!raw || raw.startsWith('#') || /^[a-z][a-z0-9+.\-]*:/i.test(raw) || raw.startsWith('//')) continue;
    if (raw.startsWith('/')) {
      missing.push(`${raw} (an absolute path breaks once an LMS serves the package from its own folder)`);
      continue;
    }
    const resolved = resolveHref(path.posix.dirname(launch), raw);
    if (resolved.startsWith('..')) missing.push(`${raw} (points outside the package)`);
    else if (!files.has(resolved) && !files.has(`${resolved.replace(/\/$/, '')}/index.html`)) missing.push(raw);
  }
  return { html, missing };
}
