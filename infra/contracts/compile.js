#!/usr/bin/env node
// Compiles infra/contracts/DOTM.sol with solc-js from node_modules (npm `solc`, pinned in
// package.json) into the committed artifact infra/contracts/DOTM.json:
//   {"contractName", "abi", "bytecode", "deployedBytecode", "compiler": {"version", "settings"}}
// (a Foundry/Hardhat-like artifact: alloy's `sol!(DOTM, "<path>/DOTM.json")` reads `abi`,
// `bytecode` and `deployedBytecode` from it; ethers' ContractFactory takes `abi` + `bytecode`).
//
//   node infra/contracts/compile.js            write DOTM.json
//   node infra/contracts/compile.js --stdout   print the artifact instead (the drift test
//                                              compares it with the committed file)
//
// Reproducible: a fixed source name ("DOTM.sol", not a path), fixed optimizer runs and EVM
// version, metadata left at solc's default (the CBOR trailer with the IPFS hash of the
// metadata, so the bytecode changes whenever the source text or these settings change).
// Fully offline: solc-js ships the compiler inside the npm package.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const SOLC_VERSION = "0.8.30"; // must match `pragma solidity` and package.json
const SOURCE_NAME = "DOTM.sol";
const CONTRACT = "DOTM";
// evmVersion cancun: PUSH0 + MCOPY, live on mainnet, Sepolia, Holesky and the major L2s.
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
};

const dir = __dirname;

function compile() {
  const version = solc.version();
  if (!version.startsWith(`${SOLC_VERSION}+`)) {
    throw new Error(`node_modules/solc is ${version}, expected ${SOLC_VERSION} (run npm ci)`);
  }
  const source = fs.readFileSync(path.join(dir, SOURCE_NAME), "utf8");
  const input = {
    language: "Solidity",
    sources: { [SOURCE_NAME]: { content: source } },
    settings: {
      ...SETTINGS,
      outputSelection: {
        [SOURCE_NAME]: { [CONTRACT]: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
      },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const problems = output.errors || [];
  for (const p of problems) process.stderr.write(p.formattedMessage || `${p.severity}: ${p.message}\n`);
  if (problems.some((p) => p.severity === "error")) throw new Error("solc reported errors");
  const c = output.contracts[SOURCE_NAME][CONTRACT];
  return {
    contractName: CONTRACT,
    abi: c.abi,
    bytecode: `0x${c.evm.bytecode.object}`,
    deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
    compiler: { version, settings: SETTINGS },
  };
}

function main() {
  const artifact = `${JSON.stringify(compile(), null, 2)}\n`;
  if (process.argv.includes("--stdout")) {
    process.stdout.write(artifact);
  } else {
    const out = path.join(dir, `${CONTRACT}.json`);
    fs.writeFileSync(out, artifact);
    process.stderr.write(`wrote ${path.relative(process.cwd(), out)}\n`);
  }
}

try {
  main();
} catch (e) {
  process.stderr.write(`compile.js: ${e.message}\n`);
  process.exit(1);
}
