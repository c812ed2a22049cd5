// Second, independent bedrock-runtime client: the AWS SDK for JavaScript v3 calls InvokeModel and Converse on the
// Bedrock emulator. Env: BEDROCK_ENDPOINT, MODEL_ID, MODEL_INPUT (a JSON model input), RECORD_ID.
// Prints one JSON document with what each call returned (or the error it raised).
import { BedrockRuntimeClient, ConverseCommand, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { clientOptions, errorOf, plain } from "../../emulator_js/sdk_helpers.mjs";

const env = process.env;
// The SDK's bedrock-runtime client speaks HTTP/2 by default (for its streaming operations); the emulator serves
// HTTP/1.1, which Bedrock also accepts for InvokeModel and Converse: the SDK's own HTTP/1.1 handler
// (@smithy/node-http-handler, the client's dependency).
const client = new BedrockRuntimeClient({ ...clientOptions(env.BEDROCK_ENDPOINT), requestHandler: new NodeHttpHandler() });
const messages = [{ role: "user", content: [{ text: "Where is my refund?" }] }];
const invoke = (metadata) =>
  client.send(
    new InvokeModelCommand({
      modelId: env.MODEL_ID,
      body: new TextEncoder().encode(env.MODEL_INPUT),
      contentType: "application/json",
      accept: "application/json",
      ...(metadata ? { requestMetadata: JSON.stringify(metadata) } : {}),
    }),
  );

const out = {};
const invoked = await invoke(null);
out.invoke = { contentType: invoked.contentType, body: JSON.parse(new TextDecoder().decode(invoked.body)) };
out.converse = plain(await client.send(new ConverseCommand({ modelId: env.MODEL_ID, messages, inferenceConfig: { maxTokens: 9 } })));
// The admin API forces RECORD_ID to fail once with 429: refused, then answered.
out.forced = await errorOf(invoke({ recordId: env.RECORD_ID }));
out.afterForced = JSON.parse(new TextDecoder().decode((await invoke({ recordId: env.RECORD_ID })).body));
out.invalid = await errorOf(
  client.send(new ConverseCommand({ modelId: env.MODEL_ID, messages: [{ role: "assistant", content: [{ text: "x" }] }] })),
);
out.unknownModel = await errorOf(client.send(new ConverseCommand({ modelId: "meta.llama3-8b-instruct-v1:0", messages })));
out.modelError = await errorOf(
  client.send(new ConverseCommand({ modelId: env.MODEL_ID, messages: [{ role: "user", content: [{ text: "upstream" }] }] })),
);
process.stdout.write(JSON.stringify(out));
