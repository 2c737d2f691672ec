// copy: literal content to a remote file; the same compare/put machinery as template, without rendering.
import { defineModule } from '../module.ts';
import { applyContent, planContent, type Attrs } from './remote-file.ts';

export interface CopyArgs extends Attrs {
  content: string | Buffer;
  dest: string;
  /** run on the uploaded temp file before it replaces dest; `%s` is the temp path */
  validate?: string;
}

export const copy = defineModule<CopyArgs>({
  name: 'copy',
  plan(ctx, args) {
    if (typeof args.content !== 'string' && !Buffer.isBuffer(args.content)) {
      throw new Error(`copy ${args.dest}: content must be a string or a Buffer, got ${typeof args.content}`);
    }
    return planContent(ctx, { ...args });
  },
  async apply(ctx, _args, change) {
    await applyContent(ctx, change);
  },
});
