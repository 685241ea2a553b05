// src/*.mjs (the ES module, the one source) → miniprogram_dist/*.js (CommonJS), one file each.
//
// WeChat DevTools' "构建 npm" copies miniprogram_dist/ into miniprogram_npm/ and the mini
// program require()s it; uni-app and Vite import src/ directly. No bundler: the source keeps
// to a few import/export forms, this script rewrites exactly those and refuses anything else.
//
//   node scripts/build-cjs.mjs           write miniprogram_dist/
//   node scripts/build-cjs.mjs --check   exit 1 if miniprogram_dist/ is not what src/ builds to
//
// `make test` runs --check: the built files are committed (a mini program uses the package
// without building), so they must never drift from the source.

import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src');
const outDir = join(root, 'miniprogram_dist');

/**
 * @param {string} source an ES module in the subset src/ uses
 * @param {string} file for messages
 * @returns {string} the same module as CommonJS
 */
export function toCommonJs(source, file) {
  /** @type {string[]} */
  const exported = [];
  /** @type {string[]} */
  const reexports = [];
  let text = source.replace(/(['"])\.\/([\w-]+)\.mjs\1/g, "'./$2.js'");

  // import { a, b as c } from './x.js';
  text = text.replace(/^import\s*\{([^}]*)\}\s*from\s*('[^']+');?$/gm, (_, names, from) => {
    const bindings = splitNames(names).map(([name, alias]) => (name === alias ? name : name + ': ' + alias));
    return 'const { ' + bindings.join(', ') + ' } = require(' + from + ');';
  });

  // export { a, b } from './x.js';
  text = text.replace(/^export\s*\{([^}]*)\}\s*from\s*'\.\/([\w-]+)\.js';?$/gm, (_, names, module) => {
    const local = '_' + module.replace(/-/g, '_');
    for (const [name, alias] of splitNames(names)) {
      reexports.push('exports.' + alias + ' = ' + local + '.' + name + ';');
    }
    return 'const ' + local + " = require('./" + module + ".js');";
  });

  // export function f / export async function f / export class C / export const X
  text = text.replace(
    /^export\s+((?:async\s+)?function\*?|class|const|let)\s+([A-Za-z_$][\w$]*)/gm,
    (_, keyword, name) => {
      exported.push(name);
      return keyword + ' ' + name;
    },
  );

  const leftover = text.match(/^\s*(import|export)\b.*$/m);
  if (leftover) throw new Error(file + ': a form build-cjs.mjs does not know: ' + leftover[0].trim());
  if (/\bimport\s*\(|\bimport\.meta\b/.test(text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''))) {
    throw new Error(file + ': dynamic import / import.meta cannot become CommonJS');
  }

  const footer = exported.map((name) => 'exports.' + name + ' = ' + name + ';').concat(reexports);
  return (
    "'use strict';\n// Generated from src/" +
    file +
    ' by scripts/build-cjs.mjs; edit the source, then run `npm run build`.\n' +
    text.trimEnd() +
    '\n' +
    (footer.length ? '\n' + footer.join('\n') + '\n' : '')
  );
}

/**
 * @param {string} list "a, b as c"
 * @returns {[string, string][]}
 */
function splitNames(list) {
  return list
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [name, alias] = part.split(/\s+as\s+/);
      return [name, alias || name];
    });
}

/** @returns {Map<string, string>} output file name → content */
export function build() {
  const outputs = new Map();
  for (const file of readdirSync(srcDir).sort()) {
    if (!file.endsWith('.mjs')) continue;
    const source = readFileSync(join(srcDir, file), 'utf8');
    outputs.set(file.replace(/\.mjs$/, '.js'), toCommonJs(source, file));
  }
  return outputs;
}

function main() {
  const check = process.argv.includes('--check');
  const outputs = build();
  if (check) {
    const stale = [];
    for (const [file, content] of outputs) {
      const path = join(outDir, file);
      if (!existsSync(path) || readFileSync(path, 'utf8') !== content) stale.push(file);
    }
    const extra = existsSync(outDir)
      ? readdirSync(outDir).filter((file) => file.endsWith('.js') && !outputs.has(file))
      : [];
    if (stale.length || extra.length) {
      console.error(
        'miniprogram_dist/ is out of date with src/ (' +
          stale.concat(extra).join(', ') +
          '): run `npm run build` in clients/miniprogram and commit the result',
      );
      process.exit(1);
    }
    console.log('miniprogram_dist/ matches src/ (' + outputs.size + ' files)');
    return;
  }
  mkdirSync(outDir, { recursive: true });
  for (const [file, content] of outputs) writeFileSync(join(outDir, file), content);
  console.log('wrote ' + outputs.size + ' files to miniprogram_dist/');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
