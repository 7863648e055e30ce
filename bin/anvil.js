#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm install` (the prepare script) or `npm run build`.
import '../dist/src/cli/main.js';
