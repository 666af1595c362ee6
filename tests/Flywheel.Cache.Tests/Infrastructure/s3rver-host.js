'use strict';
// Runs s3rver (3.7.1) for the tests, with one bucket. s3rver lacks two multipart calls every S3 service we
// target has (AbortMultipartUpload and ListMultipartUploads); they are added here over s3rver's own upload
// folders (<directory>/<bucket>/._S3rver_uploads/<uploadId>/{key,metadata,<part>}), so the tests can check that
// aborted writes leave no pending upload and that stale uploads are swept. Test use only: no authentication.
// It also passes copy sources in the form s3rver can read (see below).
// usage: node s3rver-host.js <s3rver package dir> <address> <port> <directory> <bucket>
const fs = require('fs');
const path = require('path');

const [packageDir, address, port, directory, bucket] = process.argv.slice(2);
const S3rver = require(packageDir);

const server = new S3rver({
  address,
  port: Number(port),
  directory,
  silent: true,
  configureBuckets: [{ name: bucket, configs: [] }],
});

const uploadsDir = b => path.join(directory, b, '._S3rver_uploads');
const escape = s => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const xml = body => '<?xml version="1.0" encoding="UTF-8"?>\n' + body;

function readUpload(b, id) {
  const dir = path.join(uploadsDir(b), path.basename(id));
  try {
    return { id, dir, key: fs.readFileSync(path.join(dir, 'key'), 'utf8'), initiated: fs.statSync(path.join(dir, 'key')).mtime };
  } catch {
    return null;
  }
}

server.middleware.unshift(async (ctx, next) => {
  const m = /^\/([^/]+)\/?(.*)$/.exec(ctx.path);
  if (!m) return next();
  const b = m[1];
  const key = m[2] === '' ? undefined : decodeURIComponent(m[2]);

  // AWS SDK 4 percent-encodes the '/' between bucket and key in x-amz-copy-source (as S3 allows); s3rver
  // decodes it with decodeURI, which keeps %2F, and then finds no bucket. Hand it the decoded form.
  const copySource = ctx.headers['x-amz-copy-source'];
  if (copySource) ctx.headers['x-amz-copy-source'] = decodeURIComponent(copySource);

  if (ctx.method === 'DELETE' && key !== undefined && 'uploadId' in ctx.query) {
    const upload = readUpload(b, ctx.query.uploadId);
    if (!upload || upload.key !== key) {
      ctx.status = 404;
      ctx.type = 'application/xml';
      ctx.body = xml('<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>');
      return;
    }
    fs.rmSync(upload.dir, { recursive: true, force: true });
    ctx.status = 204;
    return;
  }

  if (ctx.method === 'GET' && key === undefined && 'uploads' in ctx.query) {
    const prefix = ctx.query.prefix || '';
    let ids = [];
    try {
      ids = fs.readdirSync(uploadsDir(b));
    } catch {}
    const uploads = ids
      .map(id => readUpload(b, id))
      .filter(u => u && u.key.startsWith(prefix))
      .sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : x.id < y.id ? -1 : 1));
    ctx.type = 'application/xml';
    ctx.body = xml(
      '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        `<Bucket>${escape(b)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>` +
        `<Prefix>${escape(prefix)}</Prefix><MaxUploads>10000</MaxUploads><IsTruncated>false</IsTruncated>` +
        uploads
          .map(u => `<Upload><Key>${escape(u.key)}</Key><UploadId>${u.id}</UploadId>` +
            `<Initiated>${u.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`)
          .join('') +
        '</ListMultipartUploadsResult>',
    );
    return;
  }

  return next();
});

server.run().then(
  () => console.log('s3rver ready'),
  err => {
    console.error(err);
    process.exit(1);
  },
);
