// Classifier-free guidance and one scheduler step, in place on the latent.
//
//   eps  = uncond + guidance * (cond - uncond)      (batch 2: [uncond, cond]; batch 1: eps = out)
//   x'   = s.from_sample * x + s.from_output * eps + s.from_aux * aux + s.from_noise * noise
//   aux' = a.from_sample * x + a.from_output * eps + a.from_aux * aux + a.from_noise * noise
//
// (s: the sample's terms, a: aux's.) aux is the denoised estimate during the loop, so a multistep
// solver reads the previous step's estimate from it before it is overwritten; noise is the
// step's fresh noise, uploaded by the pipeline when the scheduler adds some. On the last step the
// pipeline passes the sample's terms divided by the VAE scaling factor as aux's, so aux becomes
// the decoder's input and no separate scaling pass is needed. The model output is read in the
// layout the denoiser gives (packed_index, patch-index.wgsl, prepended): a transformer's packed
// patches are unpacked as they are read.

override WORKGROUP_SIZE: u32;

struct Terms {
  from_sample: f32,
  from_output: f32,
  from_aux: f32,
  from_noise: f32,
}

struct Params {
  count: u32,        // elements of one latent
  guided: u32,       // 1: model_output holds [uncond, cond]; 0: one prediction
  guidance: f32,
  _pad: u32,
  sample_terms: Terms,
  aux_terms: Terms,
  packing: Packing,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> model_output: array<f32>;
@group(0) @binding(2) var<storage, read_write> sample: array<f32>;
@group(0) @binding(3) var<storage, read_write> aux: array<f32>;
@group(0) @binding(4) var<storage, read> noise: array<f32>;

fn combine(t: Terms, x: f32, eps: f32, old_aux: f32, z: f32) -> f32 {
  return t.from_sample * x + t.from_output * eps + t.from_aux * old_aux + t.from_noise * z;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.count) {
    return;
  }
  let j = packed_index(i, params.packing);
  var eps = model_output[j];
  if (params.guided == 1u) {
    let cond = model_output[params.count + j];
    eps = eps + params.guidance * (cond - eps);
  }
  let x = sample[i];
  let old_aux = aux[i];
  let z = noise[i];
  sample[i] = combine(params.sample_terms, x, eps, old_aux, z);
  aux[i] = combine(params.aux_terms, x, eps, old_aux, z);
}
