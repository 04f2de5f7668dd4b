// Contract test helper: validates answers with Coral Talk's own external-moderation response schema.
// Usage: node coral_response_schema.js   (a JSON array of answers on stdin; prints [{ok, error?, value?}, ...])
//
// The schema below restates ExternalModerationResponseSchema and validateResponse() from Coral Talk
// (coralproject/talk, src/core/server/services/comments/pipeline/phases/external.ts, v7 and later, the same
// code in v9.11.8), with Coral's enum values written out (GQLCOMMENT_STATUS, GQLTAG, ACTION_TYPE.FLAG), and runs
// it with the real `joi` package and the options Coral passes. An answer this refuses is one Coral discards.
'use strict';
const Joi = require('joi');

const COMMENT_STATUS = ['APPROVED', 'NONE', 'PREMOD', 'REJECTED', 'SYSTEM_WITHHELD'];
const FLAG = 'FLAG';

const ExternalModerationResponseSchema = Joi.object().keys({
  actions: Joi.array().items(
    Joi.object().keys({
      actionType: Joi.string().only().allow(FLAG).required(),
      reason: Joi.string()
        .only()
        .allow('COMMENT_DETECTED_TOXIC', 'COMMENT_DETECTED_SPAM')
        .required(),
    })
  ),
  status: Joi.string()
    .only()
    .allow(...COMMENT_STATUS),
  tags: Joi.array().items(Joi.string().only().allow('FEATURED', 'STAFF').required()),
});

function validateResponse(body) {
  return ExternalModerationResponseSchema.validate(body, {
    stripUnknown: true,
    presence: 'optional',
    abortEarly: false,
  });
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', chunk => { input += chunk; });
process.stdin.on('end', () => {
  const answers = JSON.parse(input);
  const results = answers.map(answer => {
    const {value, error} = validateResponse(answer);
    return error ? {ok: false, error: error.message} : {ok: true, value};
  });
  process.stdout.write(JSON.stringify(results));
});
