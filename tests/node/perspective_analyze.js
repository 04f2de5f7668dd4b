// Calls Vigie through the npm package perspective-api-client (unmodified).
// Usage: node perspective_analyze.js <vigie base URL> <api key>   (request JSON {text, options} on stdin)
// The package posts to Google's fixed URL through the default instance of its own copy of axios, and has no
// base-URL option, so the script points that instance at Vigie with a request interceptor: the rest is the
// package's own code. The copy must be the client's: tests/node also holds a newer axios at the top level (as an
// app would), so require('axios') here is another instance that the client never uses.
'use strict';
const Perspective = require('perspective-api-client');
const axios = require(require.resolve('axios', {paths: [require.resolve('perspective-api-client')]}));

const [base, apiKey] = process.argv.slice(2);
const GOOGLE = 'https://commentanalyzer.googleapis.com';

axios.interceptors.request.use(config => {
  if (config.url.startsWith(GOOGLE)) {
    config.url = base + config.url.slice(GOOGLE.length);
  }
  return config;
});

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', chunk => { input += chunk; });
process.stdin.on('end', async () => {
  const {text, options} = JSON.parse(input);
  const client = new Perspective({apiKey});
  try {
    const result = await client.analyze(text, options);
    process.stdout.write(JSON.stringify({ok: true, result}));
  } catch (error) {
    process.stdout.write(JSON.stringify({
      ok: false, name: error.name, message: error.message,
      status: error.response ? error.response.status : null,
    }));
  }
});
