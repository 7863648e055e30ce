// Transpiles just the TFTP server and its entry script with @swc/core into OUT_DIR (argv[2]), so the
// benchmark can run the server as a plain `node` child process inside a network namespace without a
// full `tsc -p tsconfig.build.json` build (which would compile, and write dist/ for, the whole project).
import { transformFile } from '@swc/core';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.argv[2] ?? join(root, 'bench', '.tftp-build'));
const tftpDir = join(root, 'src/boot/tftp');
const files = [
  join(root, 'src/errors.ts'),
  join(root, 'bench/tftp-server.ts'),
  ...(await readdir(tftpDir)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => join(tftpDir, f)),
];
for (const file of files) {
  const { code } = await transformFile(file, {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'es6' },
    sourceMaps: false,
  });
  const target = join(outDir, relative(root, file)).replace(/\.ts$/, '.js');
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, code);
}
await writeFile(join(outDir, 'package.json'), '{"type":"module"}\n');
console.log(join(outDir, 'bench/tftp-server.js'));
