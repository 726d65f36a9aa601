#!/usr/bin/env node
// Entry point of the `vouch` binary (package.json "bin").
import { main } from './cli/main.js';

process.exitCode = await main(process.argv.slice(2));
