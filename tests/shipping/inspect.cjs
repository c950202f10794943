// Structural checks of the shipping files, run by tests/shipping/run.sh with
// NODE_PATH pointing at the pinned tools in .tools/node_modules.
//
//   node inspect.cjs pipeline PREVIEW_YML MAIN_JSON MR_JSON MANUAL_JSON
//   node inspect.cjs dockerfile DOCKERFILE GITLAB_CI_YML
//   node inspect.cjs compose COMPOSE_YML
//
// The pipeline files are `gitlab-ci-local --preview` and `--list-json` output
// (for a push to main and for a merge request). Each
// check prints what is wrong and exits 1, or prints a one-line summary.
'use strict';

const fs = require('node:fs');
const yaml = require('js-yaml');

const problems = [];
function expect(ok, message) {
  if (!ok) problems.push(message);
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const read = (path) => fs.readFileSync(path, 'utf8');

// ---- pipeline ------------------------------------------------------------------

// The jobs JOB waits for: its `needs`, or else every job of an earlier stage.
function dependencies(jobs, stages, job) {
  if (Array.isArray(job.needs)) return job.needs.map((n) => (typeof n === 'string' ? n : n.job));
  const rank = stages.indexOf(job.stage);
  return jobs.filter((j) => stages.indexOf(j.stage) < rank).map((j) => j.name);
}

function dependsOn(jobs, stages, name, target) {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const seen = new Set();
  const stack = [name];
  while (stack.length) {
    const job = byName.get(stack.pop());
    if (!job) continue;
    for (const dep of dependencies(jobs, stages, job)) {
      if (dep === target) return true;
      if (!seen.has(dep)) seen.add(dep), stack.push(dep);
    }
  }
  return false;
}

function pipeline(previewFile, mainFile, mrFile, manualFile) {
  // GitLab adds the implicit .pre and .post stages.
  const stages = yaml.load(read(previewFile)).stages.filter((s) => !s.startsWith('.'));
  const active = (file) => JSON.parse(read(file)).filter((j) => j.when !== 'never');
  const main = active(mainFile);
  const mr = active(mrFile);
  const manual = active(manualFile);
  const names = (jobs) => jobs.map((j) => j.name).sort();

  expect(same(stages, ['lint', 'test', 'build', 'push', 'deploy']),
    `stages are ${JSON.stringify(stages)}`);
  expect(same(names(main), ['build-image', 'clippy', 'debug-info', 'deploy-production',
    'deploy-staging', 'fmt', 'push-image', 'shellcheck', 'smoke-staging', 'test']),
  `main runs ${names(main)}`);
  expect(same(names(manual), names(main)), `with PRODUCTION_DEPLOY=manual main runs ${names(manual)}`);
  expect(mr.every((j) => ['lint', 'test'].includes(j.stage)) && mr.some((j) => j.name === 'test'),
    `a merge request runs ${mr.map((j) => `${j.name} (${j.stage})`)}`);

  const job = (name, jobs = main) => jobs.find((j) => j.name === name) || {};
  expect(job('deploy-staging').when === 'on_success', `deploy-staging is ${job('deploy-staging').when}`);
  // The seed's default: production follows automatically; an operator may
  // make it manual with PRODUCTION_DEPLOY=manual.
  const production = job('deploy-production');
  expect(production.when === 'on_success' && !production.allowFailure,
    `deploy-production is ${production.when}${production.allowFailure ? ' (may fail)' : ''} by default`);
  expect(job('deploy-production', manual).when === 'manual',
    `with PRODUCTION_DEPLOY=manual deploy-production is ${job('deploy-production', manual).when}`);
  for (const deploy of ['deploy-staging', 'deploy-production']) {
    expect(dependsOn(main, stages, deploy, 'test'), `${deploy} does not depend on test`);
    expect(dependsOn(main, stages, deploy, 'push-image'), `${deploy} does not depend on push-image`);
  }
  expect(dependsOn(main, stages, 'deploy-production', 'deploy-staging'),
    'deploy-production does not wait for deploy-staging');
  expect(dependsOn(main, stages, 'deploy-production', 'smoke-staging'),
    'deploy-production does not wait for the staging smoke test');
  return `stages ${stages.join(' -> ')}; main: ${main.length} jobs, production ${production.when}` +
    ` (manual when asked); merge request: ${names(mr)}`;
}

// ---- Dockerfile ----------------------------------------------------------------

function dockerfile(path, gitlabCiPath) {
  const { DockerfileParser } = require('dockerfile-ast');
  const { validate } = require('dockerfile-utils');
  const text = read(path);

  // dockerfile-utils' linter: severity 1 is an error, 2 a warning.
  for (const d of validate(text)) {
    expect(false, `line ${d.range.start.line + 1}: ${d.message}`);
  }

  const file = DockerfileParser.parse(text);
  const froms = file.getFROMs();
  const stageOf = (instruction) =>
    froms.filter((f) => f.getRange().start.line <= instruction.getRange().start.line).length - 1;
  const last = froms.length - 1;
  const runtime = (keyword) =>
    file.getInstructions().filter((i) => i.getKeyword() === keyword && stageOf(i) === last);
  const args = (i) => i.getArguments().map((a) => a.getValue());

  // One build command: the image builds with the script the tests run.
  const runs = file.getInstructions().filter((i) => i.getKeyword() === 'RUN');
  const builds = runs.filter((i) => /scripts\/build-release\.sh/.test(i.getTextContent()));
  expect(builds.length === 1, `${builds.length} RUN instructions call scripts/build-release.sh`);
  expect(!runs.some((i) => /cargo\s+build/.test(i.getTextContent())),
    'a RUN calls `cargo build` itself instead of scripts/build-release.sh');
  expect(runs.some((i) => /cargo chef cook/.test(i.getTextContent())),
    'no cargo-chef dependency layer');

  // A small, non-root runtime with a health check, ports and the commit.
  const base = froms[last].getImageName();
  expect(/distroless\/cc|debian:.*-slim/.test(base), `runtime stage is ${base}`);
  const user = runtime('USER').map((i) => args(i).join(' ')).pop() || 'root';
  expect(!/^(root|0)(:|$)/.test(user), `runtime runs as ${user}`);
  expect(runtime('HEALTHCHECK').length === 1, 'runtime has no HEALTHCHECK');
  expect(runtime('EXPOSE').some((i) => args(i).includes('8080')), 'runtime does not EXPOSE 8080');
  expect(runtime('LABEL').some((i) => /org\.opencontainers\.image\.revision=/.test(i.getTextContent())),
    'no org.opencontainers.image.revision label');
  expect(!runtime('RUN').length, 'the runtime stage runs commands (it has no shell)');

  // CI tests with the toolchain the image builds with.
  const rust = text.match(/^ARG RUST_VERSION=(\S+)/m);
  const ci = yaml.load(read(gitlabCiPath)).variables.RUST_IMAGE;
  expect(rust && ci === `rust:${rust[1]}-bookworm`,
    `Dockerfile RUST_VERSION ${rust && rust[1]} vs .gitlab-ci.yml RUST_IMAGE ${ci}`);
  return `${froms.length} stages, runtime ${base} as ${user}`;
}

// ---- docker-compose.yml ---------------------------------------------------------

function compose(path) {
  const doc = yaml.load(read(path));
  const services = doc.services || {};
  const healthTest = (name) => ((services[name] || {}).healthcheck || {}).test || [];
  const apps = { user: '50051', task: '50052', notify: '50053' };

  expect(same(Object.keys(services).sort(), ['edge', 'migrate', 'mysql', 'notify', 'task', 'user']),
    `services are ${Object.keys(services)}`);
  for (const [name, svc] of Object.entries(services)) {
    expect(name === 'edge' || !svc.ports, `${name} publishes a port; only the edge may`);
    expect(svc.deploy && svc.deploy.resources && svc.deploy.resources.limits &&
      svc.deploy.resources.limits.memory && svc.deploy.resources.limits.cpus, `${name} has no resource limits`);
    expect(svc.restart === (name === 'migrate' ? 'no' : 'unless-stopped'), `${name} restart is ${svc.restart}`);
    expect([].concat(svc.env_file).includes('todo.env'), `${name} does not read todo.env`);
  }
  for (const [name, port] of Object.entries(apps)) {
    expect(same(healthTest(name).slice(-3), ['probe', 'grpc', `127.0.0.1:${port}`]),
      `${name} health check is ${healthTest(name)}`);
    expect(same(services[name].command, ['todo', name]), `${name} runs ${services[name].command}`);
  }
  expect(same((services.edge || {}).command, ['todo', 'edge']), `edge runs ${(services.edge || {}).command}`);
  expect(same(healthTest('edge').slice(-3), ['probe', 'http', 'http://127.0.0.1:8080/readyz']),
    `edge health check is ${healthTest('edge')}`);
  expect(same((services.edge || {}).ports, ['8080:8080']), 'edge does not publish 8080');
  for (const name of ['user', 'task', 'notify', 'edge', 'migrate']) {
    expect(services[name].image === '${TODO_IMAGE:?deploy.sh writes TODO_IMAGE to .env}:' +
      '${TODO_TAG:?deploy.sh writes TODO_TAG to .env}', `${name} image is ${services[name].image}`);
  }
  expect(same((services.migrate || {}).command, ['todo', 'migrate']), 'migrate does not run `todo migrate`');
  expect(same((services.migrate || {}).profiles, ['migrate']), 'migrate would start with `up`');
  expect(/^mysql:8/.test((services.mysql || {}).image) && same(services.mysql.profiles, ['dev']),
    'mysql is not MySQL 8 behind the dev profile');
  return `${Object.keys(services).length} services; only the edge publishes a port`;
}

const [check, ...files] = process.argv.slice(2);
const checks = { pipeline, dockerfile, compose };
if (!checks[check]) {
  console.error(`usage: inspect.cjs ${Object.keys(checks).join('|')} FILES...`);
  process.exit(2);
}
const summary = checks[check](...files);
if (problems.length) {
  for (const p of problems) console.error(`${check}: ${p}`);
  process.exit(1);
}
console.log(`${check}: ${summary}`);
