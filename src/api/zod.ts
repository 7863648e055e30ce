import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

// `.openapi()` must exist before any schema module calls it, whatever the import order;
// route files import `z` from here rather than from 'zod'.
extendZodWithOpenApi(z);

export { z };
