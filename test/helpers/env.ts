// Jest setup: every test process runs with the test settings (in-memory NeDB, cheap hashing,
// a random gateway port).
process.env.NODE_ENV = "test";
process.env.PORT = "0";
process.env.HOST = "127.0.0.1";
process.env.LOGLEVEL ??= "warn";
