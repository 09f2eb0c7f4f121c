// Compile Vue single-file components (.kytos) with @vue/compiler-sfc, as a build would, and
// report on each one as JSON on stdout (tests/ui/test_components.py runs it):
//
//   node tests/support/compile_sfc.cjs FILE...
//   -> {"FILE": {"errors": [...], "warnings": [...], "components": [{"tag", "attrs"}],
//                "exports": [...]}}
//
// errors: from parsing, the script, the template and the styles. components: every component
// tag of the template with its static attributes. exports: the keys of the object the script
// exports when run as the web UI's loader runs it, with only "vue" to require.
"use strict";

const fs = require("fs");
const vm = require("vm");
const { parse, compileScript, compileTemplate, compileStyle } = require("@vue/compiler-sfc");

const ELEMENT = 1;
const ATTRIBUTE = 6;
const COMPONENT = 1; // ElementTypes.COMPONENT

function text(error) {
  return error && error.message ? error.message : String(error);
}

function componentsOf(node, found) {
  if (node.type === ELEMENT && node.tagType === COMPONENT) {
    const attrs = {};
    for (const prop of node.props) {
      if (prop.type === ATTRIBUTE) attrs[prop.name] = prop.value ? prop.value.content : "";
    }
    found.push({ tag: node.tag, attrs: attrs });
  }
  for (const branch of node.branches || []) componentsOf(branch, found); // v-if
  for (const child of node.children || []) componentsOf(child, found);
  return found;
}

function exportsOf(code, errors) {
  const module = { exports: {} };
  const sandbox = {
    module: module, exports: module.exports, console: console,
    require(name) {
      if (name !== "vue") throw new Error("requires " + JSON.stringify(name) + ": only vue is available");
      return {};
    },
  };
  try {
    vm.runInNewContext(code, sandbox, { timeout: 1000 });
  } catch (error) {
    errors.push("script: " + text(error));
    return [];
  }
  const exported = module.exports && module.exports.default ? module.exports.default : module.exports;
  return exported && typeof exported === "object" ? Object.keys(exported) : [];
}

function report(filename) {
  const errors = [];
  const warnings = [];
  const source = fs.readFileSync(filename, "utf8");
  const { descriptor, errors: parseErrors } = parse(source, { filename: filename });
  for (const error of parseErrors) errors.push("parse: " + text(error));
  const id = "test";
  let components = [];
  let exported = [];
  if (descriptor.script || descriptor.scriptSetup) {
    try {
      const script = compileScript(descriptor, { id: id });
      for (const warning of script.warnings || []) warnings.push("script: " + text(warning));
      exported = exportsOf(script.content, errors);
    } catch (error) {
      errors.push("script: " + text(error));
    }
  } else {
    errors.push("script: none");
  }
  if (descriptor.template) {
    const template = compileTemplate({
      source: descriptor.template.content, filename: filename, id: id,
      compilerOptions: { whitespace: "preserve" },
    });
    for (const error of template.errors) errors.push("template: " + text(error));
    for (const tip of template.tips) warnings.push("template: " + text(tip));
    if (template.ast) components = componentsOf(template.ast, []);
  } else {
    errors.push("template: none");
  }
  for (const style of descriptor.styles) {
    if (style.lang) errors.push("style: lang=" + style.lang + " (the web UI loads plain CSS)");
    const compiled = compileStyle({ source: style.content, filename: filename, id: id,
      scoped: Boolean(style.scoped) });
    for (const error of compiled.errors) errors.push("style: " + text(error));
  }
  return { errors: errors, warnings: warnings, components: components, exports: exported };
}

const result = {};
for (const filename of process.argv.slice(2)) result[filename] = report(filename);
process.stdout.write(JSON.stringify(result));
